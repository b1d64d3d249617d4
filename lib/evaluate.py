"""Scores to decisions: metrics at a threshold, threshold sweeps, operating points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

OPERATING_POINT = "operating_point.json"


def threshold_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 for the defect class and the confusion counts at a threshold."""
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(np.asarray(labels).astype(int), predicted, labels=[0, 1]).ravel()
    n = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"threshold": float(threshold), "n": int(n), "accuracy": (tp + tn) / n if n else float("nan"),
            "precision": precision, "recall": recall, "f1": f1,
            "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}


def threshold_sweep(labels: np.ndarray, scores: np.ndarray,
                    thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """threshold_metrics at each threshold (default 0.05 to 0.95 by 0.05), one row each."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2)
    rows = [threshold_metrics(labels, scores, t) for t in thresholds]
    return pd.DataFrame(rows).rename(columns={"fn": "missed defects (FN)",
                                              "fp": "scrapped good parts (FP)"})


def choose_threshold(labels: np.ndarray, scores: np.ndarray, rule: str = "full_recall",
                     cost_missed_defect: float = 1.0, cost_scrapped_good: float = 1.0
                     ) -> tuple[float, str]:
    """The operating threshold chosen on validation scores by a stated rule, and why, in words."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    if rule == "full_recall":
        if not labels.any():
            raise ValueError("the validation split has no defects: the full_recall rule needs some")
        lowest = float(scores[labels == 1].min())
        if lowest > 0.5:  # a rule meant to catch more defects must not end up flagging fewer than 0.5
            return 0.5, (f"every defect in the validation split scores above 0.5 (the lowest "
                         f"{lowest:.4f}), so the plain 0.5 is kept rather than a laxer threshold")
        return lowest, ("the highest threshold that still flags every defect in the validation "
                        f"split (its lowest-scored defect scores {lowest:.4f})")
    if rule == "min_cost":
        candidates = np.unique(np.concatenate([scores, [0.5]]))
        costs = [cost_missed_defect * ((scores < t) & (labels == 1)).sum()
                 + cost_scrapped_good * ((scores >= t) & (labels == 0)).sum() for t in candidates]
        best = int(np.argmin(costs))  # ties: the lowest threshold, so fewer defects slip through
        threshold = float(candidates[best])
        return threshold, (f"the lowest expected cost on the validation split with a missed defect "
                           f"costing {cost_missed_defect:g} and a scrapped good part "
                           f"{cost_scrapped_good:g} (cost {costs[best]:g})")
    raise ValueError(f"unknown threshold rule '{rule}'; choose 'full_recall' or 'min_cost'")


def verdicts(scores: np.ndarray, threshold: float, low: float, high: float) -> np.ndarray:
    """'review' for scores in [low, high), else 'defect' at or above threshold, else 'ok'."""
    if not 0 <= low <= high <= 1:
        raise ValueError(f"review band needs 0 <= review_low <= review_high <= 1, got {low}, {high}")
    scores = np.asarray(scores, dtype=float)
    decided = np.where(scores >= threshold, "defect", "ok")
    return np.where((scores >= low) & (scores < high), "review", decided)


def review_band(labels: np.ndarray, scores: np.ndarray, threshold: float, low: float,
                high: float) -> dict:
    """How many parts go to review, and the mistakes left among the parts decided automatically."""
    labels = np.asarray(labels).astype(int)
    said = verdicts(scores, threshold, low, high)
    return {"review": int((said == "review").sum()), "decided": int((said != "review").sum()),
            "missed defects outside band": int(((said == "ok") & (labels == 1)).sum()),
            "scrapped good parts outside band": int(((said == "defect") & (labels == 0)).sum())}


def confusion_table(labels: np.ndarray, scores: np.ndarray, threshold: float) -> pd.DataFrame:
    """Confusion counts: rows actual ok/defect, columns predicted ok/defect."""
    m = threshold_metrics(labels, scores, threshold)
    counts = [[m["tn"], m["fp"]], [m["fn"], m["tp"]]]
    return pd.DataFrame(counts, index=pd.Index(["ok", "defect"], name="actual"),
                        columns=pd.Index(["ok", "defect"], name="predicted"))


def classification_text(labels: np.ndarray, scores: np.ndarray, threshold: float) -> str:
    """scikit-learn's classification report with four digits, at a threshold."""
    from sklearn.metrics import classification_report

    predicted = (np.asarray(scores) >= threshold).astype(int)
    return classification_report(np.asarray(labels).astype(int), predicted, labels=[0, 1],
                                 target_names=["ok", "defect"], digits=4, zero_division=0)


def score_table(model, table: pd.DataFrame, views: int = 1, batch_size: int = 64) -> pd.DataFrame:
    """The rows whose image could be read, with the model's defect probability (over views) in 'score'."""
    from lib.inspect import fast_predictor, score_files

    scored = score_files(fast_predictor(model, views), int(model.input_shape[1]), table["path"].tolist(),
                         batch_size)
    readable = (scored["error"] == "").to_numpy()
    return table.assign(score=scored["defect_probability"].to_numpy())[readable].reset_index(drop=True)


def save_operating_point(run_dir: str | Path, threshold: float, why: str, rule: str,
                         review_low: float, review_high: float, views: int = 1) -> dict:
    """Write operating_point.json (threshold, band, views scored) for chapters 5-6 and inspect."""
    point = {"threshold": threshold, "why": why, "rule": rule, "review_low": review_low,
             "review_high": review_high, "views": views, "chosen_on": "validation split"}
    verdicts(np.zeros(1), threshold, review_low, review_high)  # checks the band
    (Path(run_dir) / OPERATING_POINT).write_text(json.dumps(point, indent=2))
    return point


def load_operating_point(run_dir: str | Path) -> dict:
    """Read the run's operating_point.json; FileNotFoundError saying which chapter writes it."""
    path = Path(run_dir) / OPERATING_POINT
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: run chapter 4 (04_evaluate) on this run folder first")
    return {"views": 1, **json.loads(path.read_text())}  # runs saved before views were recorded


def add_verdicts(scored: pd.DataFrame, point: dict) -> pd.DataFrame:
    """Add true_class, verdict (with review band), verdict_at_threshold and confidence columns."""
    score = scored["score"].to_numpy()
    at_threshold = np.where(score >= point["threshold"], "defect", "ok")
    return scored.assign(
        true_class=np.where(scored["label"] == 1, "defect", "ok"),
        verdict=verdicts(score, point["threshold"], point["review_low"], point["review_high"]),
        verdict_at_threshold=at_threshold,
        confidence=np.where(at_threshold == "defect", score, 1 - score),
    )


def management_summary(test: pd.DataFrame, point: dict, duplicates: set[str],
                       near_twins: set[str] | None = None) -> str:
    """Plain sentences for plant management: shipped defects, scrapped parts, reviews, and why."""
    n, defects = len(test), int((test["true_class"] == "defect").sum())
    band = review_band(test["label"], test["score"], point["threshold"], point["review_low"],
                       point["review_high"])
    plain = test["verdict_at_threshold"] != test["true_class"]
    clean = test[~test["path"].isin(duplicates)]
    clean_wrong = int((clean["verdict_at_threshold"] != clean["true_class"]).sum())
    return (
        f"**Of {n} test parts** ({defects} defective, {n - defects} good), the network would have "
        f"**shipped {band['missed defects outside band']} defective part(s)**, **scrapped "
        f"{band['scrapped good parts outside band']} good part(s)**, and "
        f"**sent {band['review']} to a person for review** "
        f"(scores between {point['review_low']} and {point['review_high']}).\n\n"
        f"A part is called defective when its score is at least **{point['threshold']:.4f}**: "
        f"{point['why']}. This was fixed on the validation split before the test parts were "
        f"scored.\n\n"
        f"Without the review band, deciding every part at that threshold, it would have made "
        f"{int(plain.sum())} mistake(s) in {n} parts ({plain.mean():.2%}).\n\n"
        f"Caution: {n - len(clean)} of these test files are byte-identical copies of training "
        f"files. On the {len(clean)} others it made {clean_wrong} mistake(s) at that threshold."
        + ("" if near_twins is None else _unseen_sentence(test, near_twins))
    )


def _unseen_sentence(test: pd.DataFrame, near_twins: set[str]) -> str:
    unseen = test[~test["path"].isin(near_twins)]
    wrong = int((unseen["verdict_at_threshold"] != unseen["true_class"]).sum())
    return (f" Moreover, {len(test) - len(unseen)} test parts are the same photograph as a training "
            f"part, turned, mirrored or zoomed (chapter 1). On the {len(unseen)} parts the network had "
            f"truly never seen, it made {wrong} mistake(s) at that threshold.")


def headline_table(labels: np.ndarray, scores: np.ndarray, threshold: float,
                   subsets: dict[str, np.ndarray]) -> pd.DataFrame:
    """Headline figures at a threshold, one column per named subset (a boolean mask of rows)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    columns = {}
    for name, mask in subsets.items():
        y, s = np.asarray(labels)[mask], np.asarray(scores)[mask]
        m = threshold_metrics(y, s, threshold)
        columns[name] = {"parts": m["n"], "accuracy": m["accuracy"], "precision": m["precision"],
                         "recall": m["recall"], "F1": m["f1"], "missed defects (FN)": m["fn"],
                         "scrapped good parts (FP)": m["fp"],
                         "ROC AUC": roc_auc_score(y, s) if len(set(y)) == 2 else float("nan"),
                         "Brier score": brier_score_loss(y, s) if len(y) else float("nan")}
    return pd.DataFrame(columns)
