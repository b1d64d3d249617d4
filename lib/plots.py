"""Figures for the report: matplotlib/seaborn for static ones, HoloViews for interactive ones."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

RIGHT, WRONG = "tab:blue", "tab:red"


def setup_report() -> None:
    """Seaborn's theme, and HoloViews with bokeh resources inlined so HTML works offline."""
    import holoviews as hv

    sns.set_theme(style="whitegrid", context="notebook")
    hv.extension("bokeh", inline=True, logo=False)


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
    import holoviews as hv

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
