"""The line's inspector: a run's network and checked operating point, and the verdict table for files."""

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
from lib.decision import OPERATING_POINT, check_operating_point, load_operating_point, verdicts
from lib.drift import load_reference
from lib.part import VERSION as STAGE_VERSION
from lib.runtime import MODEL_TFLITE, Predictor, saved_tflite, score_files, tflite_predictor

try:  # TensorFlow is optional on a line PC: a run's model.tflite is all lib.inspect needs
    from lib.models import load_model
    from lib.scoring import fast_predictor
except ImportError:
    load_model = fast_predictor = None

VERDICT_COLUMNS = ["path", "verdict", "defect_probability", "threshold", "review_low", "review_high",
                   "run_id", "note", "drift", "error"]


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
    recipe_file = run_dir / RECIPE
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else {}
    check_stage_version(recipe, recipe_file)
    if (run_dir / OPERATING_POINT).is_file():
        point = load_operating_point(run_dir)
    elif threshold is None:
        raise FileNotFoundError(f"no {run_dir / OPERATING_POINT} beside the model, so its verdicts would "
                                "not match its report: run chapter 4 (04_evaluate) on the run, or give "
                                "--threshold")
    else:
        stage = recipe.get("input_stage", "photo")
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


def check_stage_version(recipe: dict, recipe_file: Path) -> None:
    """ValueError naming the file when a run's network was trained on parts cut otherwise than this code
    cuts them (its stage_version): its verdicts here would not be its report's."""
    trained_on = recipe.get("stage_version")
    if recipe.get("input_stage") == "part" and trained_on is not None and trained_on != STAGE_VERSION:
        raise ValueError(f"{recipe_file} says its network was trained on parts cut as '{trained_on}', and "
                         f"this code cuts them as '{STAGE_VERSION}', so its verdicts would not match its "
                         "report: inspect with the code the run was made with (its manifest.json names the "
                         "commit), or train a run with this code (make report)")


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
