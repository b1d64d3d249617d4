"""Figures for the report: matplotlib/seaborn for static ones, HoloViews for interactive ones."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from html import escape
from pathlib import Path

import cv2
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from bokeh.embed import components
from bokeh.resources import Resources
from IPython.display import HTML
from matplotlib_inline.backend_inline import set_matplotlib_formats
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay, brier_score_loss

from lib.data import read_image

RIGHT, WRONG = "tab:blue", "tab:red"
JPEG_QUALITY = 85  # figures go into the report as JPEG: photos are a fifth of their PNG size
BOKEH = Resources(mode="inline", components=["bokeh"])  # BokehJS alone: no widgets, tables, WebGL or MathJax


def setup_report() -> None:
    """Seaborn's theme, figures shown as JPEG, and HoloViews drawing with bokeh."""
    sns.set_theme(style="whitegrid", context="notebook")
    set_matplotlib_formats("jpeg", pil_kwargs={"quality": JPEG_QUALITY})
    hv.Store.set_current_backend("bokeh")


def interactive_html(element) -> str:
    """A HoloViews element as a standalone page: BokehJS inline, no CDN, no Panel extension."""
    script, div = components(hv.render(element, backend="bokeh"))
    # Only the inlined core bundle: Panel (imported by HoloViews) adds a relative-URL module to js_files,
    # and the widget, table, WebGL and MathJax bundles (2.7 MB) draw nothing these plots use.
    bokehjs = "".join(f"<script>{code}</script>" for code in BOKEH.js_raw)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{bokehjs}</head>"
            f"<body style='margin:0'>{div}{script}</body></html>")


def show_interactive(element, height: int = 420):
    """Display a HoloViews element as an offline, self-contained interactive plot (an iframe)."""

    with warnings.catch_warnings():  # IPython suggests IFrame, which needs a file or a server
        warnings.simplefilter("ignore", UserWarning)
        return HTML(f'<iframe srcdoc="{escape(interactive_html(element))}" title="interactive plot" '
                    f'style="width:100%;height:{height}px;border:0"></iframe>')


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                ncols: int = 8, colors: Sequence[str] | None = None, size: float = 1.8,
                overlays: Sequence[np.ndarray | None] | None = None) -> plt.Figure:
    """A grid of grayscale images with optional titles, title colours and heatmap overlays."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = np.asarray(images[i]).squeeze()
        ax.imshow(image, cmap="gray", vmin=0, vmax=1 if image.dtype.kind == "f" else 255)
        if overlays is not None and overlays[i] is not None:
            ax.imshow(overlays[i], cmap="jet", alpha=0.4, vmin=0, vmax=1,
                      extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8, color=colors[i] if colors else "black")
    fig.tight_layout()
    return fig


def counts_bars(counts: pd.DataFrame):
    """Interactive stacked bars of images per split and class, with counts and percentages."""
    body = counts.drop(index="Total", columns="Total", errors="ignore")
    long = body.stack().rename("images").reset_index()
    long["percent of split"] = (100 * long["images"] / long.groupby("split")["images"]
                                .transform("sum")).round(1)
    bars = hv.Bars(long, kdims=["split", "class_name"], vdims=["images", "percent of split"])
    return bars.opts(stacked=True, tools=["hover"], width=600, height=350,
                     title="Images per split and class", cmap=["#d62728", "#2ca02c"],
                     legend_position="right")


def pixel_zoom(image: np.ndarray, top: int, left: int, size: int = 12) -> plt.Figure:
    """The image with a box around a size x size patch, and the patch with its values written in."""
    patch = image[top:top + size, left:left + size]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 5.5), width_ratios=[1, 1.4])
    ax0.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax0.add_patch(plt.Rectangle((left - 0.5, top - 0.5), size, size, fill=False, color="red", lw=2))
    ax0.set_title(f"patch at row {top}, column {left}")
    ax0.axis("off")
    sns.heatmap(patch, annot=True, fmt="d", cmap="gray", vmin=0, vmax=255, cbar=False,
                annot_kws={"fontsize": 7}, ax=ax1, xticklabels=range(left, left + size),
                yticklabels=range(top, top + size))
    ax1.set_title(f"pixel values, {size}x{size} patch")
    fig.tight_layout()
    return fig


def brightness_hist(table: pd.DataFrame) -> sns.FacetGrid:
    """Histograms of per-image mean brightness, one panel per split, coloured by class."""
    grid = sns.displot(table, x="mean_brightness", hue="class_name", col="split", kind="hist",
                       stat="density", common_norm=False, element="step", height=3.2,
                       col_order=[s for s in ("train", "val", "test") if s in set(table.split)])
    grid.set_axis_labels("mean pixel value of the image (0-255)", "density")
    return grid


def augmentation_gallery(image: np.ndarray, panels: dict, size: float = 1.8) -> plt.Figure:
    """One row per augmentation: the original image, then that augmentation at each strength."""
    ncols = 1 + max(len(v) for v in panels.values())
    fig, axes = plt.subplots(len(panels), ncols, figsize=(size * ncols, size * len(panels)),
                             squeeze=False)
    x = np.asarray(image, np.float32)[None, ..., None] / 255.0
    for row, variants in zip(axes, panels.values()):
        shown = [("original", x[0])] + [(label, layer(x, training=True)[0]) for label, layer in variants]
        for ax, (label, img) in zip(row, shown):
            ax.imshow(np.clip(np.asarray(img).squeeze(), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig


def label_titles(labels: Sequence[int]) -> list[str]:
    """'defect' or 'ok' for each 0/1 label."""
    return ["defect" if int(y) == 1 else "ok" for y in labels]


def history_long(history: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch history in long form: epoch, metric (loss/accuracy), split (train/validation), value."""
    rows = []
    for metric in ("loss", "accuracy"):
        for split, column in (("train", metric), ("validation", f"val_{metric}")):
            rows.append(pd.DataFrame({"epoch": history["epoch"] + 1, "metric": metric, "split": split,
                                      "value": history[column]}))
    return pd.concat(rows, ignore_index=True)


def history_figure(history: pd.DataFrame) -> sns.FacetGrid:
    """Seaborn curves of loss and accuracy per epoch for train and validation."""
    grid = sns.relplot(history_long(history), x="epoch", y="value", hue="split", col="metric",
                       kind="line", marker="o", facet_kws={"sharey": False}, height=3.5)
    best = int(history["val_loss"].idxmin()) + 1
    for ax in grid.axes.flat:
        ax.axvline(best, color="grey", ls="--", lw=1)
    grid.set_titles("{col_name}")  # short titles: two long ones ran into each other
    grid.figure.suptitle("dashed line: the best epoch by validation loss", y=1.03, fontsize=10)
    return grid


def history_curves(history: pd.DataFrame):
    """Interactive HoloViews curves of loss and accuracy, with hover values."""
    long = history_long(history)
    panels = []
    for metric in ("loss", "accuracy"):
        part = long[long["metric"] == metric]
        curves = [hv.Curve(part[part["split"] == s], "epoch", ("value", metric), label=s)
                  .opts(tools=["hover"]) * hv.Scatter(part[part["split"] == s], "epoch", "value")
                  .opts(size=5, tools=["hover"]) for s in ("train", "validation")]
        panels.append(hv.Overlay(curves).opts(title=metric, width=420, height=300,
                                             legend_position="bottom_right"))
    return hv.Layout(panels).cols(2)


def confusion_heatmap(confusion: pd.DataFrame) -> plt.Figure:
    """The confusion table as an annotated heatmap (actual x predicted)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    sns.heatmap(confusion, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                annot_kws={"fontsize": 14})
    ax.set_title("test parts: actual x predicted")
    fig.tight_layout()
    return fig


def roc_pr_curves(labels: np.ndarray, scores: np.ndarray, threshold: float) -> plt.Figure:
    """ROC and precision-recall curves with their areas and the operating point marked."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
    RocCurveDisplay.from_predictions(labels, scores, ax=ax0, name="network", pos_label=1)
    PrecisionRecallDisplay.from_predictions(labels, scores, ax=ax1, name="network", pos_label=1)
    y, s = np.asarray(labels), np.asarray(scores)
    predicted = s >= threshold
    tpr, fpr = (predicted & (y == 1)).sum() / max((y == 1).sum(), 1), \
        (predicted & (y == 0)).sum() / max((y == 0).sum(), 1)
    precision = (predicted & (y == 1)).sum() / max(predicted.sum(), 1)
    ax0.plot(fpr, tpr, "o", color=WRONG, label=f"threshold {threshold:.3f}")
    ax1.plot(tpr, precision, "o", color=WRONG, label=f"threshold {threshold:.3f}")
    for ax in (ax0, ax1):
        ax.legend(loc="lower right" if ax is ax0 else "lower left")
    ax0.set_title("ROC (defect is positive)")
    ax1.set_title("precision-recall (defect is positive)")
    fig.tight_layout()
    return fig


def sweep_curves(sweep: pd.DataFrame):
    """Interactive curves of missed defects and scrapped good parts, and of the rates, by threshold."""
    counts = [hv.Curve(sweep, "threshold", (c, "parts"), label=c).opts(tools=["hover"])
              for c in ("missed defects (FN)", "scrapped good parts (FP)")]
    rates = [hv.Curve(sweep, "threshold", (c, "rate"), label=c).opts(tools=["hover"])
             for c in ("accuracy", "precision", "recall", "f1")]
    return (hv.Overlay(counts).opts(title="mistakes by threshold", width=450, height=320)
            + hv.Overlay(rates).opts(title="rates by threshold", width=450, height=320,
                                     legend_position="bottom_left"))


def backbone_figure(table: pd.DataFrame) -> plt.Figure:
    """make backbones' networks: never-seen accuracy (with its interval) against inspection images/s."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    accuracy = 100 * table["accuracy at 0.5"]
    below, above = accuracy - 100 * table["interval low"], 100 * table["interval high"] - accuracy
    ax.errorbar(table["images/s"], accuracy, yerr=[below, above], fmt="o", color=RIGHT, capsize=4)
    for _, row in table.iterrows():
        ax.annotate(f"{row['model']} ({int(row['epochs'])} ep.)",
                    (row["images/s"], 100 * row["accuracy at 0.5"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="inspection, images/s (JPEG to verdict, log scale)", ylabel="never-seen accuracy at 0.5, %",
           title="same training time: accuracy on never-seen parts against speed")
    fig.tight_layout()
    return fig


def reliability_diagram(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> plt.Figure:
    """Fraction of defects against mean score per bin, with the Brier score in the title."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    CalibrationDisplay.from_predictions(labels, scores, n_bins=bins, strategy="uniform", ax=ax,
                                        name="network")
    ax.set_title(f"reliability (Brier score {brier_score_loss(labels, scores):.4f})")
    fig.tight_layout()
    return fig


def verdict_titles(parts: pd.DataFrame) -> list[str]:
    """'true X / said Y / p=0.97' for each scored part (p: probability of the predicted class)."""
    return [f"true {t} / said {v}\np={c:.3f}" for t, v, c in
            zip(parts["true_class"], parts["verdict_at_threshold"], parts["confidence"])]


def verdict_colors(parts: pd.DataFrame) -> list[str]:
    """Blue where the verdict at the threshold is right, red where wrong."""
    return [RIGHT if t == v else WRONG for t, v in zip(parts["true_class"], parts["verdict_at_threshold"])]


def similarity_hist(matches: pd.DataFrame, cutoff: float) -> plt.Figure:
    """Histogram (log counts) of each image's best near-twin similarity, with the cut-off marked."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sns.histplot(matches, x="similarity", hue="class_name", bins=np.linspace(0, 1, 41), multiple="stack",
                 ax=ax)
    ax.set_yscale("log")
    ax.axvline(cutoff, color="black", linestyle="--")
    ax.text(cutoff, ax.get_ylim()[1], f" cut-off {cutoff}", va="top", fontsize=9)
    ax.set_xlabel("best similarity to a train or validation image (bench-detail correlation after alignment)")
    ax.set_ylabel("test images")
    fig.tight_layout()
    return fig


def show_pairs(pairs: pd.DataFrame, titles: Sequence[str], per_row: int = 2, size: float = 2.2
               ) -> plt.Figure:
    """Each row's `path` image beside its `match` image, `per_row` pairs to a row of the grid."""
    images, captions = [], []
    for row, title in zip(pairs.itertuples(), titles):
        images += [read_image(row.path, 300), read_image(row.match, 300)]
        captions += [title, f"its match ({row.class_match})"]
    return show_images(images, captions, ncols=2 * per_row, size=size)


def cost_curve_figure(curve: pd.DataFrame, threshold: float) -> plt.Figure:
    """Missed defects, scrapped good parts and cost by threshold (log scale), the chosen one marked."""
    fig, (counts, cost) = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
    counts.step(curve["threshold"], curve["missed"], where="post", label="missed defects")
    counts.step(curve["threshold"], curve["scrapped"], where="post", label="scrapped good parts")
    counts.set(ylabel="validation parts", xlabel="threshold", xscale="log")
    counts.legend()
    cost.step(curve["threshold"], curve["cost"], where="post", color="black")
    chosen = curve.loc[(curve["threshold"] - threshold).abs().idxmin()]
    cost.plot([chosen["threshold"]], [chosen["cost"]], "o", color=WRONG,
              label=f"operating point {threshold:.4f}")
    cost.set(ylabel="cost", xlabel="threshold", xscale="log")
    cost.legend()
    fig.tight_layout()
    return fig


def with_circles(images: Sequence[np.ndarray], circles: pd.DataFrame, scale: float = 1.0) -> list[np.ndarray]:
    """Copies of grey images with each found part's rim drawn in white (none where it was not found)."""
    drawn = []
    for image, (x, y, r) in zip(images, circles[["part_x", "part_y", "part_r"]].to_numpy()):
        copy = image.copy()
        if np.isfinite(r):
            cv2.circle(copy, (round(x * scale), round(y * scale)), round(r * scale), 255, 2)
        drawn.append(copy)
    return drawn


SUMMARY_PARTS = "summary_parts"  # chapter 5's thumbnails of every mistake and review part, for summary.html


def heatmap_thumbnail(image: np.ndarray, cam: np.ndarray, size: int = 160) -> np.ndarray:
    """A grey image with its heatmap blended over it (jet, as in the chapters), size x size BGR uint8."""
    grey = cv2.resize(np.asarray(image, np.uint8).squeeze(), (size, size), interpolation=cv2.INTER_AREA)
    heat = cv2.applyColorMap((255 * np.clip(cv2.resize(np.asarray(cam, np.float32), (size, size)), 0, 1))
                             .astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 0.6, heat, 0.4, 0)


def save_thumbnails(run_dir, parts: pd.DataFrame, photos: Sequence[np.ndarray], cams: Sequence[np.ndarray],
                    kind: str) -> pd.DataFrame:
    """Write each part's heatmap thumbnail as a JPEG under the run's SUMMARY_PARTS folder, and its row
    (kind, title, file, path, verdict, true class, score) to SUMMARY_PARTS.csv; the rows written."""
    folder = Path(run_dir) / SUMMARY_PARTS
    folder.mkdir(exist_ok=True)
    rows = []
    for (_, part), photo, cam, title in zip(parts.iterrows(), photos, cams, verdict_titles(parts)):
        name = f"{kind}-{Path(part['path']).stem}.jpg"
        cv2.imwrite(str(folder / name), heatmap_thumbnail(photo, cam),
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        rows.append({"kind": kind, "title": title.replace("\n", " "), "file": f"{SUMMARY_PARTS}/{name}",
                     "path": part["path"], "verdict": part["verdict"], "true_class": part["true_class"],
                     "score": float(part["score"])})
    table = pd.DataFrame(rows, columns=["kind", "title", "file", "path", "verdict", "true_class", "score"])
    index = Path(run_dir) / f"{SUMMARY_PARTS}.csv"
    earlier = pd.read_csv(index) if index.is_file() else table.iloc[:0]
    pd.concat([earlier[earlier["kind"] != kind], table]).to_csv(index, index=False)
    return table
