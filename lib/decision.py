"""Scores to verdicts: threshold rules, the review band, the run's operating point, and inspecting files."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lib.config import BEST_MODEL, RECIPE
from lib.data import PART_NOT_FOUND
from lib.drift import load_reference
from lib.part import STAGES
from lib.runtime import MODEL_TFLITE, VIEWS, Predictor, saved_tflite, score_files, tflite_predictor

try:  # TensorFlow is optional on a line PC: a run's model.tflite is all lib.inspect needs
    from lib.models import load_model
    from lib.scoring import fast_predictor
except ImportError:
    load_model = fast_predictor = None

OPERATING_POINT = "operating_point.json"
VERDICT_COLUMNS = ["path", "verdict", "defect_probability", "threshold", "review_low", "review_high",
                   "run_id", "note", "drift", "error"]


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


def load_inspector(model_path: str | os.PathLike, threshold: float | None = None
                   ) -> tuple[Predictor, int, dict, str]:
    """The run's predictor and input size, its checked operating point (the threshold replaced when one is
    given; 'drift_reference': the training photos' ranges, or None; 'runtime': what scores), the run id.

    A run folder (or its best.keras) with an up-to-date model.tflite is scored by LiteRT straight from it,
    no TensorFlow needed; any other .keras file is loaded with Keras and converted. Without
    operating_point.json the verdicts would not match the run's report, so a threshold must then be given
    (no review band; one view; the input stage from recipe.json). FileNotFoundError or ValueError naming
    the file otherwise.
    """
    model_path = Path(model_path)
    run_dir = model_path if model_path.is_dir() else model_path.parent
    tflite = saved_tflite(run_dir) if model_path.is_dir() or model_path.name == BEST_MODEL else None
    if tflite is None and load_model is None:
        raise FileNotFoundError(f"{run_dir} has no up-to-date {MODEL_TFLITE} and TensorFlow is not "
                                "installed: run chapter 3 again on the run (it writes the file), or install "
                                "TensorFlow")
    model = None if tflite is not None else load_model(model_path)  # a bad model is named first
    if (run_dir / OPERATING_POINT).is_file():
        point = load_operating_point(run_dir)
    elif threshold is None:
        raise FileNotFoundError(f"no {run_dir / OPERATING_POINT} beside the model, so its verdicts would "
                                "not match its report: run chapter 4 (04_evaluate) on the run, or give "
                                "--threshold")
    else:
        recipe = run_dir / RECIPE
        stage = json.loads(recipe.read_text()).get("input_stage", "photo") if recipe.is_file() else "photo"
        point = {"review_low": threshold, "review_high": threshold, "views": 1, "input_stage": stage}
    if threshold is not None:
        point = {**point, "threshold": threshold, "why": "given with --threshold"}
        point["review_low"], point["review_high"] = (min(point["review_low"], threshold),
                                                     max(point["review_high"], threshold))
    point = check_operating_point(point, "--threshold" if threshold is not None else str(run_dir))
    if model is None:
        predict, size = tflite_predictor(tflite.read_bytes(), point["views"])
        runtime = f"LiteRT on {tflite.name}"
    else:
        predict, size, runtime = (fast_predictor(model, point["views"]), int(model.input_shape[1]),
                                  "Keras model, converted at start")
    point = {**point, "drift_reference": load_reference(run_dir), "runtime": runtime}
    return predict, size, point, run_dir.resolve().name


def inspect_files(predict: Predictor, size: int, point: dict, run_id: str, files: Sequence[str],
                  batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """The verdict table (VERDICT_COLUMNS) for the files, scored by predict at size px: one row each,
    errors kept."""
    rows = score_files(predict, size, files, batch_size, progress, point["input_stage"],
                       point.get("photo_size"), point.get("drift_reference"))
    readable = rows["error"] == ""
    said = verdicts(rows["defect_probability"].fillna(0).to_numpy(), point["threshold"],
                    point["review_low"], point["review_high"])
    said = np.where(rows["note"].str.startswith(PART_NOT_FOUND), "review", said)  # a person looks: no guess
    rows["verdict"] = np.where(readable, said, "")
    rows["threshold"], rows["review_low"], rows["review_high"] = (
        point["threshold"], point["review_low"], point["review_high"])
    rows["run_id"] = run_id
    return rows[VERDICT_COLUMNS]


@functools.lru_cache(maxsize=4)
def _inspector_once(model_path: str, threshold: float | None) -> tuple[Predictor, int, dict, str]:
    predict, size, point, run_id = load_inspector(model_path, threshold)
    lock = threading.Lock()  # one interpreter per process: its threads take turns

    def guarded(images: np.ndarray) -> np.ndarray:
        with lock:
            return predict(images)

    return guarded, size, point, run_id


def inspect_chunk(model_path: str, threshold: float | None, files: Sequence[str], batch_size: int = 64
                  ) -> pd.DataFrame:
    """inspect_files for one chunk of files, the run's inspector loaded once per process (the task each
    Dask worker runs for `lib.inspect --workers/--dask`)."""
    predict, size, point, run_id = _inspector_once(str(model_path), threshold)
    return inspect_files(predict, size, point, run_id, list(files), batch_size)
