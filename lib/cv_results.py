"""A cross-validation run's results (no TensorFlow): the run that matches a recipe, its out-of-fold summary.

A cv run folder (`outputs/<time>-cv/`) holds `cv.json` (the recipe, K and the data fingerprint),
one `fold-<i>/` per fold (its training files and `scores.csv`: the fold's validation and held-out
scores), and, once every fold is done, `cv_rules.csv` (the threshold rules weighed on validation parts
alone), `oof_predictions.csv`, `cv_folds.csv` and `cv_summary.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lib.config import RECIPE, TRAIN_SUMMARY
from lib.data import find_data_dir
from lib.decision import add_verdicts
from lib.evaluate import compare_rules, fold_figures, group_bootstrap_interval, rule_candidates, rule_name
from lib.runs import data_fingerprint, write_whole
from lib.settings import RECIPE_ADDED

SETTINGS, SUMMARY, OOF, FOLDS, FOLD_SCORES = "cv.json", "cv_summary.json", "oof_predictions.csv", \
    "cv_folds.csv", "scores.csv"
ROBUSTNESS = "cv_robustness.csv"  # chapter 6's changes on fold 1's held-out photos
RULES = "cv_rules.csv"  # the threshold rules weighed on the folds' validation parts alone (compare_rules)
NEVER_SEEN = "never_seen.json"  # in a report run: chapter 7's figures of its recipe's cv run and draws
DRAW_COLUMNS = ["seed", "run", "accuracy at 0.5", "fold sd at 0.5", "photographs wrong at 0.5",
                "defects shipped at rule", "good parts scrapped at rule", "good photographs scrapped at rule"]
CHANGE_DRAW_COLUMNS = ["change", "strength", "draws", "mean accuracy at 0.5", "lowest", "highest",
                       "draws at 95% or more", "draws at 98% or more", "most shipped by the line in a draw",
                       "shipped by the line, all draws"]


def _saved_settings(outputs: Path) -> list[tuple[Path, dict]]:
    """Every cv run folder under outputs with its cv.json, the recipe completed with RECIPE_ADDED's old
    values (a run saved before a setting existed was trained at them), newest first."""
    found = []
    for run in sorted(Path(outputs).glob("*-cv*"), reverse=True):
        if (run / SETTINGS).is_file():
            saved = json.loads((run / SETTINGS).read_text())
            found.append((run, {**saved, "recipe": {**RECIPE_ADDED, **saved["recipe"]}}))
    return found


def cv_runs(outputs: Path, recipe: dict, data_sha256: str, finished: bool = True) -> list[Path]:
    """cv run folders under outputs for this recipe and data, newest first (finished or not)."""
    return [run for run, saved in _saved_settings(outputs)
            if saved["recipe"] == recipe and saved["data_sha256"] == data_sha256
            and (run / SUMMARY).is_file() == finished]


def draws_by_seed(outputs: Path, settings: dict) -> dict[int, Path]:
    """The finished cv runs under outputs whose cv.json is settings (cv_settings) but for the seed, each a
    draw of other folds and other first weights: the newest of each seed, by seed."""
    def unseeded(saved: dict) -> dict:
        return {**saved, "recipe": {k: v for k, v in saved["recipe"].items() if k != "seed"}}

    ours, by_seed = unseeded({**settings, "recipe": {**RECIPE_ADDED, **settings["recipe"]}}), {}
    for run, saved in _saved_settings(outputs):
        if (run / SUMMARY).is_file() and unseeded(saved) == ours:
            by_seed.setdefault(saved["recipe"]["seed"], run)
    return {seed: by_seed[seed] for seed in sorted(by_seed)}


def draws_of(run: Path) -> list[Path]:
    """The finished cv runs beside run (itself among them) whose cv.json differs from its own in the seed
    alone (draws_by_seed), by seed."""
    return list(draws_by_seed(Path(run).parent, json.loads((Path(run) / SETTINGS).read_text())).values())


def draw_table(runs: list[Path], rule: str, cost_missed_defect: float, cost_scrapped_good: float,
               scrap_budget: float, review_low: float, review_high: float) -> pd.DataFrame:
    """One row per cv run (draws_of): its seed and its out-of-fold figures at 0.5 and at the rule."""
    rows = []
    for run in runs:
        _, _, s = summarise_cv(fold_scores(run), rule, cost_missed_defect, cost_scrapped_good, scrap_budget,
                               review_low, review_high)
        rows.append({"seed": json.loads((run / SETTINGS).read_text())["recipe"]["seed"], "run": run.name,
                     "accuracy at 0.5": s["accuracy at 0.5"], "fold sd at 0.5": s["fold sd at 0.5"],
                     "photographs wrong at 0.5": s["photographs wrong at 0.5"],
                     "defects shipped at rule": s["missed at rule"] / s["defects"],
                     "good parts scrapped at rule": s["scrapped at rule"] / s["good"],
                     "good photographs scrapped at rule": s["good photographs scrapped at rule"]
                     / s["good photographs"]})
    return pd.DataFrame(rows, columns=DRAW_COLUMNS)


def training_seconds(run: Path) -> float:
    """A cv run's mean training seconds per fold (each fold's train_summary.json; NaN where none is saved)."""
    files = Path(run).glob(f"fold-*/{TRAIN_SUMMARY}")
    seconds = [json.loads(f.read_text())["train_seconds"] for f in files]
    return sum(seconds) / len(seconds) if seconds else float("nan")


def paired_draws(base: dict[int, Path], candidate: dict[int, Path], rule: str, cost_missed_defect: float,
                 cost_scrapped_good: float, scrap_budget: float, review_low: float, review_high: float
                 ) -> pd.DataFrame:
    """The seeds both recipes drew (draws_by_seed), one row per seed and recipe ("base", "candidate"): the
    draw's DRAW_COLUMNS figures and its training seconds per fold."""
    seeds = sorted(set(base) & set(candidate))
    rows = []
    for side, runs in (("base", base), ("candidate", candidate)):
        table = draw_table([runs[seed] for seed in seeds], rule, cost_missed_defect, cost_scrapped_good,
                           scrap_budget, review_low, review_high)
        table.insert(0, "recipe", side)
        table["training s per fold"] = [training_seconds(runs[seed]) for seed in seeds]
        rows.append(table)
    return pd.concat(rows, ignore_index=True).sort_values(["seed", "recipe"], ignore_index=True)


def paired_changes(base: dict[int, Path], candidate: dict[int, Path]) -> pd.DataFrame:
    """Chapter 6's changes on fold 1 over the seeds both recipes drew (changes_over_draws): each recipe's mean
    accuracy at 0.5 and the candidate's difference, per change and strength."""
    seeds = sorted(set(base) & set(candidate))
    sides = [changes_over_draws([runs[seed] for seed in seeds]).set_index(["change", "strength"])
             ["mean accuracy at 0.5"] for runs in (base, candidate)]
    table = pd.concat(sides, axis=1, keys=["base", "candidate"]).dropna()
    return table.assign(difference=table["candidate"] - table["base"]).reset_index()


def changes_over_draws(runs: list[Path]) -> pd.DataFrame:
    """Chapter 6's changes on each draw's fold-1 held-out photos (ROBUSTNESS), per change and strength over
    the draws that scored them: accuracy at 0.5 (mean, lowest, highest, how many draws reach 95% and 98%)
    and the defects the line's verdicts would ship (CHANGE_DRAW_COLUMNS)."""
    tables = [pd.read_csv(run / ROBUSTNESS) for run in runs if (run / ROBUSTNESS).is_file()]
    if not tables:
        return pd.DataFrame(columns=CHANGE_DRAW_COLUMNS)
    both = pd.concat(tables, ignore_index=True)  # a draw saved before the line's counts has NaN for them
    if "shipped by the line" not in both:  # every draw was
        both["shipped by the line"] = float("nan")
    grouped = both.groupby(["change", "strength"], sort=False)
    accuracy, shipped = grouped["accuracy at 0.5"], grouped["shipped by the line"]
    table = pd.DataFrame({
        "draws": accuracy.size(), "mean accuracy at 0.5": accuracy.mean(), "lowest": accuracy.min(),
        "highest": accuracy.max(),
        "draws at 95% or more": accuracy.apply(lambda a: int((a >= 0.95).sum())),
        "draws at 98% or more": accuracy.apply(lambda a: int((a >= 0.98).sum())),
        "most shipped by the line in a draw": shipped.max(),
        "shipped by the line, all draws": shipped.sum(min_count=1)})
    return table.reset_index()[CHANGE_DRAW_COLUMNS]


def summarise_cv(scores: pd.DataFrame, rule: str, cost_missed_defect: float, cost_scrapped_good: float,
                 scrap_budget: float, review_low: float, review_high: float
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Out-of-fold predictions, per-fold figures and the pooled summary (95% group-bootstrap intervals)."""
    folds = fold_figures(scores, rule, cost_missed_defect, cost_scrapped_good, scrap_budget)  # each fold's
    oof = scores[scores["split"] == "test"].drop(columns="split").reset_index(drop=True)
    oof["threshold"] = oof["fold"].map(folds.set_index("fold")["threshold"])
    oof = add_verdicts(oof, {"threshold": oof["threshold"].to_numpy(), "review_low": review_low,
                             "review_high": review_high})  # each part at its own fold's threshold
    label, score = oof["label"].to_numpy(), oof["score"].to_numpy()
    right_half = (score >= 0.5) == (label == 1)
    at_rule = oof["verdict_at_threshold"].to_numpy()
    right_rule = at_rule == oof["true_class"].to_numpy()
    low, high = group_bootstrap_interval(right_half, oof["twin_group"])
    per_photo = pd.Series(right_half).groupby(oof["twin_group"].to_numpy()).mean()  # each photograph once
    rule_low, rule_high = group_bootstrap_interval(right_rule, oof["twin_group"])
    defects, good = int(label.sum()), int((label == 0).sum())
    said = oof["verdict"].to_numpy()
    shipped, scrapped = (at_rule == "ok") & (label == 1), (at_rule == "defect") & (label == 0)
    groups, defect, ok = oof["twin_group"].to_numpy(), label == 1, label == 0
    photos = oof.assign(shipped=shipped, scrapped=scrapped)
    photos = photos.groupby(["twin_group", "label"])[["shipped", "scrapped"]].mean()  # each photograph once
    kind = photos.index.get_level_values("label")
    good_photos, defect_photos = photos[kind == 0], photos[kind == 1]
    summary = {
        "parts": len(oof), "defects": defects, "good": good, "groups": int(oof["twin_group"].nunique()),
        "folds": int(oof["fold"].nunique()), "rule": rule,
        "accuracy at 0.5": float(right_half.mean()), "interval at 0.5": [low, high],
        "fold sd at 0.5": float(folds["accuracy at 0.5"].std()),
        "photographs wrong at 0.5": int((per_photo < 0.5).sum()),
        "accuracy per photograph at 0.5": float(per_photo.mean()),
        "missed at 0.5": int(((score < 0.5) & (label == 1)).sum()),
        "scrapped at 0.5": int(((score >= 0.5) & (label == 0)).sum()),
        "accuracy at rule": float(right_rule.mean()), "interval at rule": [rule_low, rule_high],
        "missed at rule": int(shipped.sum()), "scrapped at rule": int(scrapped.sum()),
        "interval shipped at rule": list(group_bootstrap_interval(shipped[defect], groups[defect])),
        "interval scrapped at rule": list(group_bootstrap_interval(scrapped[ok], groups[ok])),
        "good photographs": len(good_photos), "defective photographs": len(defect_photos),
        "good photographs scrapped at rule": int((good_photos["scrapped"] > 0.5).sum()),  # most of its views
        "defective photographs shipped at rule": int((defect_photos["shipped"] > 0.5).sum()),
        "shipped with review band": int(((said == "ok") & (label == 1)).sum()),
        "scrapped with review band": int(((said == "defect") & (label == 0)).sum()),
        "review": int((said == "review").sum()), "review_low": review_low, "review_high": review_high,
    }
    return oof, folds, summary


def save_summary(run: Path, oof: pd.DataFrame, folds: pd.DataFrame, summary: dict) -> None:
    """Write the out-of-fold predictions, the per-fold table and the summary (the summary last: done)."""
    oof.to_csv(run / OOF, index=False)
    folds.to_csv(run / FOLDS, index=False)
    (run / SUMMARY).write_text(json.dumps(summary, indent=2))


def fold_scores(run: Path) -> pd.DataFrame:
    """Every fold's validation and held-out scores of a cv run, in fold order."""
    files = sorted(Path(run).glob(f"fold-*/{FOLD_SCORES}"), key=lambda f: int(f.parent.name.split("-")[1]))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def matching_cv_run(model_run: Path, data_root: Path, outputs: Path | None = None) -> Path | None:
    """The newest finished cv run of the recipe the model run was trained with, on the same data (or None)."""
    recipe_file = Path(model_run) / RECIPE
    if not recipe_file.is_file():
        return None
    found = cv_runs(outputs or Path(model_run).parent, json.loads(recipe_file.read_text()),
                    data_fingerprint(data_root)["sha256"])
    return found[0] if found else None


def never_seen(model_run: Path, data_dir: str, rule: str, cost_missed_defect: float,
               cost_scrapped_good: float, scrap_budget: float, review_low: float, review_high: float
               ) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """The matching cv run's out-of-fold predictions, per-fold table and summary at these rules (or None)."""
    run = matching_cv_run(model_run, find_data_dir(data_dir or None))
    if run is None:
        return None
    oof, folds, summary = summarise_cv(fold_scores(run), rule, cost_missed_defect, cost_scrapped_good,
                                       scrap_budget, review_low, review_high)
    settings = json.loads((run / SETTINGS).read_text())
    runs = draws_of(run)
    draws = draw_table(runs, rule, cost_missed_defect, cost_scrapped_good, scrap_budget, review_low,
                       review_high)
    return oof, folds, {**summary, "run": run.name, "run dir": str(run), "views": settings["views"],
                        "k": settings["k"], "draws": draws.to_dict("records"),
                        "changes over draws": changes_over_draws(runs).to_dict("records"),
                        "rule name": rule_name(rule, scrap_budget, cost_missed_defect, cost_scrapped_good),
                        "cost ratio": cost_missed_defect / cost_scrapped_good}


def save_never_seen(model_run: Path, summary: dict | None) -> None:
    """Write never_seen's summary (its draws with it) into the report run as NEVER_SEEN, for the summary page;
    without one, remove an older file (the figure it held is no longer this recipe's)."""
    target = Path(model_run) / NEVER_SEEN
    if summary is None:
        target.unlink(missing_ok=True)
    else:
        write_whole(target, json.dumps(summary, indent=2, default=float))


def weighed_rules(run: Path, scrap_budget: float, cost_missed_defect: float, cost_scrapped_good: float
                  ) -> pd.DataFrame:
    """The threshold rules (these settings' among them) weighed on a cv run's validation parts alone."""
    scores = fold_scores(run)
    return compare_rules(scores[scores["split"] == "val"],
                         rule_candidates(scrap_budget, cost_missed_defect, cost_scrapped_good),
                         cost_missed_defect, cost_scrapped_good)
