"""Scores to verdicts: threshold rules, the review band and the run's operating point (no TensorFlow)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lib.part import STAGES
from lib.runs import write_whole
from lib.runtime import VIEWS

OPERATING_POINT = "operating_point.json"
TEST_PREDICTIONS = "test_predictions.csv"  # the scored test rows with their verdicts (chapter 4)


def choose_threshold(labels: np.ndarray, scores: np.ndarray, rule: str = "full_recall",
                     cost_missed_defect: float = 1.0, cost_scrapped_good: float = 1.0,
                     scrap_budget: float | None = None) -> tuple[float, str]:
    """The operating threshold chosen on validation scores by a stated rule, and why, in words."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    if rule == "scrap_budget":
        if scrap_budget is None or not 0 <= scrap_budget < 1:
            raise ValueError(f"the scrap_budget rule needs a scrap_budget from 0 to below 1, not "
                             f"{scrap_budget}")
        good = np.sort(scores[labels == 0])
        if not len(good):
            raise ValueError("the validation split has no good parts: the scrap_budget rule needs some")
        allowed = int(np.floor(scrap_budget * len(good)))  # the highest-scored good parts it may scrap
        lowest = float(np.nextafter(good[len(good) - allowed - 1], np.inf))  # just above the next one
        return min(lowest, 0.5), (
            f"the lowest threshold that scraps at most {scrap_budget:.0%} of the good parts of the "
            f"validation split ({allowed} of {len(good)}), so that every defect scoring above it is caught"
            + (" (it would lie above 0.5, so 0.5 is kept)" if lowest > 0.5 else ""))
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
        curve = cost_curve(labels, scores, cost_missed_defect, cost_scrapped_good)
        best = curve.loc[curve["cost"].idxmin()]  # ties: the lowest threshold, so fewer defects slip through
        return float(best["threshold"]), (
            f"the lowest cost on the validation split, counting a shipped defective part as "
            f"{cost_missed_defect / cost_scrapped_good:g} scrapped good parts (there: {int(best['missed'])} "
            f"missed, {int(best['scrapped'])} scrapped)")
    raise ValueError(f"unknown threshold rule '{rule}'; choose 'scrap_budget', 'min_cost' or 'full_recall'")


def cost_curve(labels: np.ndarray, scores: np.ndarray, cost_missed_defect: float,
               cost_scrapped_good: float) -> pd.DataFrame:
    """Missed defects, scrapped good parts and their cost at each candidate threshold (every score, 0.5)."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    thresholds = np.unique(np.concatenate([scores, [0.5]]))
    defects, good = np.sort(scores[labels == 1]), np.sort(scores[labels == 0])
    missed = np.searchsorted(defects, thresholds, side="left")  # defects scoring below the threshold
    scrapped = len(good) - np.searchsorted(good, thresholds, side="left")  # good parts at or above it
    return pd.DataFrame({"threshold": thresholds, "missed": missed, "scrapped": scrapped,
                         "cost": cost_missed_defect * missed + cost_scrapped_good * scrapped})


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


def save_operating_point(run_dir: str | Path, threshold: float, why: str, rule: str,
                         review_low: float, review_high: float, views: int = 1, stage: str = "photo",
                         photo_size: Sequence[int] | None = None) -> dict:
    """Write operating_point.json (threshold, band, views, input stage, the training photos' size) for
    chapters 5-6 and inspect."""
    point = {"threshold": threshold, "why": why, "rule": rule, "review_low": review_low,
             "review_high": review_high, "views": views, "input_stage": stage,
             "chosen_on": "validation split"}
    if photo_size is not None:
        point["photo_size"] = [int(v) for v in photo_size]
    check_operating_point(point, "the operating point to save")
    (Path(run_dir) / OPERATING_POINT).write_text(json.dumps(point, indent=2))
    return point


def load_operating_point(run_dir: str | Path) -> dict:
    """Read and check the run's operating_point.json; FileNotFoundError saying which chapter writes it,
    ValueError naming the file and the bad field."""
    path = Path(run_dir) / OPERATING_POINT
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: run chapter 4 (04_evaluate) on this run folder first")
    try:
        point = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); run chapter 4 (04_evaluate) again") from None
    if not isinstance(point, dict):
        raise ValueError(f"{path}: must hold an object with the threshold; run chapter 4 (04_evaluate) again")
    return check_operating_point({"views": 1, "input_stage": "photo", **point}, str(path))  # older: as scored


def check_operating_point(point: dict, source: str) -> dict:
    """The point if its threshold, review band, views and input stage are usable; ValueError naming the
    source and the first bad field."""
    for field in ("threshold", "review_low", "review_high"):
        value = point.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{source}: '{field}' must be a number from 0 to 1, not {value!r}")
    if point["review_low"] > point["review_high"]:
        raise ValueError(f"{source}: the review band is reversed (review_low {point['review_low']} is above "
                         f"review_high {point['review_high']})")
    if point.get("views") not in VIEWS:
        raise ValueError(f"{source}: 'views' must be one of {VIEWS}, not {point.get('views')!r}")
    if point.get("input_stage") not in STAGES:
        raise ValueError(f"{source}: 'input_stage' must be one of {STAGES}, not {point.get('input_stage')!r}")
    return point


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


def save_test_predictions(run_dir: str | Path, test: pd.DataFrame, point: dict) -> pd.DataFrame:
    """The scored test rows with their verdicts at the point (add_verdicts), written whole as the run's
    TEST_PREDICTIONS for the chapters after chapter 4 and the summary."""
    said = add_verdicts(test, point)
    write_whole(Path(run_dir) / TEST_PREDICTIONS, said.to_csv(index=False))
    return said


def load_test_predictions(run_dir: str | Path) -> pd.DataFrame:
    """The run's TEST_PREDICTIONS; FileNotFoundError saying which chapter writes them."""
    path = Path(run_dir) / TEST_PREDICTIONS
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: run chapter 4 (04_evaluate) on this run folder first")
    return pd.read_csv(path)
