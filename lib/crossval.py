"""Grouped K-fold cross-validation: every image scored once by a network that never saw its photograph.

Running the folds lives here; reading a finished run (the out-of-fold summary, the run matching a recipe)
in lib/cv_results.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib.config import TRAIN_SUMMARY
from lib.cv_results import FOLD_SCORES
from lib.data import load_images
from lib.models import load_model
from lib.robustness import robustness_table
from lib.runtime import score_held_out
from lib.scoring import fast_predictor
from lib.train import PHOTO_PX, recipe_of, train_recipe


def cv_settings(params: dict, k: int, data_sha256: str) -> dict:
    """What a cv run is: the recipe, the views scored, the number of folds, the data fingerprint."""
    return {"recipe": recipe_of(params), "views": params["test_time_views"], "k": k,
            "data_sha256": data_sha256}


def run_fold(params: dict, fold_table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Train on the fold's train rows into out/, score its val and held-out rows; kept in out/scores.csv."""
    done = out / FOLD_SCORES
    if done.is_file():
        return pd.read_csv(done)
    if (out / TRAIN_SUMMARY).is_file():  # trained before an interruption, not yet scored
        model = load_model(out)
    else:
        model, _, _ = train_recipe(params, out, table=fold_table)
    scored = score_held_out(fast_predictor(model, params["test_time_views"]), int(model.input_shape[1]),
                            fold_table, params["input_stage"])
    partial = done.with_suffix(".partial")
    scored[["path", "fold", "split", "label", "twin_group", "score"]].to_csv(partial, index=False)
    partial.replace(done)  # a fold counts as done only once its scores are complete
    return pd.read_csv(done)  # the same numbers whether this run scored the fold or an earlier one


def fold_robustness(run: Path, fold_table: pd.DataFrame, params: dict, threshold: float) -> pd.DataFrame:
    """Chapter 6's shop-floor changes on one fold's held-out photos, scored by that fold's network, at 0.5 and
    at the fold's threshold; and what the line's verdicts would do there, with the params' review band."""
    model = load_model(run)
    photos, held = load_images(fold_table[fold_table["split"] == "test"], PHOTO_PX)
    predict = fast_predictor(model, params["test_time_views"])
    point = {"threshold": threshold, "review_low": params["review_low"], "review_high": params["review_high"]}
    return robustness_table(predict, int(model.input_shape[1]), photos, held["label"].to_numpy(),
                            {"0.5": 0.5, "fold threshold": threshold}, params["seed"], params["input_stage"],
                            point=point)
