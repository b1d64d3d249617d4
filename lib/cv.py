"""`make cv`: grouped K-fold cross-validation of the recipe of PARAMS on all images (both published folders).

Folds hold out whole near-twin groups, so every image is scored by a network that never saw its
photograph. Run it again after an interruption and it continues where it stopped (finished folds
are kept; a fold in training resumes from its last epoch).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import pandas as pd

from lib.config import CACHE_DIR, DEFAULT_PARAMS, OUTPUTS_DIR
from lib.crossval import cv_settings, fold_robustness, run_fold
from lib.cv_results import (
    ROBUSTNESS,
    RULES,
    SETTINGS,
    SUMMARY,
    cv_runs,
    draw_table,
    draws_of,
    save_summary,
    summarise_cv,
    weighed_rules,
)
from lib.data import DataError, scan_dataset
from lib.evaluate import fold_figures
from lib.narrative import interval_words
from lib.near_duplicates import flag_near_twins
from lib.params import ParamsError, params_and_data
from lib.runs import data_fingerprint, new_run_dir
from lib.splits import cv_folds, take_subset


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.cv [--k 5] [--params params/default.yaml] [--seed N] [--data-dir D]."""
    parser = argparse.ArgumentParser(prog="python -m lib.cv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=5, help="how many folds (default 5)")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--seed", type=int, default=None,
                        help="another draw of the recipe: this seed's folds and first weights, not PARAMS'")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    if args.k < 2 or (args.seed is not None and args.seed < 0):
        why = (f"--k must be at least 2, got {args.k}" if args.k < 2
               else f"--seed must be 0 or more, got {args.seed}")
        print(f"error: {why}", file=sys.stderr)
        return 2
    try:
        p, root = params_and_data(args.params, args.data_dir)
    except (ParamsError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    p = p if args.seed is None else {**p, "seed": args.seed}
    table = take_subset(scan_dataset(root), p["subset"], p["seed"])
    table = flag_near_twins(table, p["near_twin_cutoff"], args.outputs / CACHE_DIR.name)
    folds = cv_folds(table, table["twin_group"], args.k, p["val_fraction"], p["seed"])
    settings = cv_settings(p, args.k, data_fingerprint(root)["sha256"])
    earlier = [r for finished in (False, True)
               for r in cv_runs(args.outputs, settings["recipe"], settings["data_sha256"], finished)
               if json.loads((r / SETTINGS).read_text()) == settings]
    if earlier and (earlier[0] / ROBUSTNESS).is_file() and (earlier[0] / SUMMARY).is_file():
        print(f"already done for this recipe and data: {earlier[0]} (its cv_summary.json and "
              f"{ROBUSTNESS}); remove that folder to measure again")
        return 0
    unfinished = earlier[:1]  # interrupted: continue in it
    run = unfinished[0] if unfinished else new_run_dir(args.outputs, "cv", dt.datetime.now())
    (run / SETTINGS).write_text(json.dumps(settings, indent=2))
    print(f"{'continuing' if unfinished else 'cross-validation'} in {run}: {len(table)} images, "
          f"{table['twin_group'].nunique()} near-twin groups, {args.k} folds", flush=True)
    scores = []
    for fold, fold_table in enumerate(folds):
        counts = fold_table["split"].value_counts()
        print(f"fold {fold + 1}/{args.k}: train {counts['train']}, validation {counts['val']}, "
              f"held out {counts['test']} ...", flush=True)
        start = time.perf_counter()
        scores.append(run_fold(p, fold_table, run / f"fold-{fold + 1}"))
        row = fold_figures(scores[-1], p["threshold_rule"], p["cost_missed_defect"], p["cost_scrapped_good"],
                           p["scrap_budget"]).astype(object).iloc[0]  # counts stay whole numbers
        print(f"fold {fold + 1}/{args.k} done in {time.perf_counter() - start:.0f} s: held-out accuracy "
              f"{row['accuracy at 0.5']:.2%} at 0.5 ({row['missed at 0.5']} missed, {row['scrapped at 0.5']} "
              f"scrapped); at {row['threshold']:.4f} ({p['threshold_rule']}) {row['missed at threshold']} "
              f"missed, {row['scrapped at threshold']} scrapped", flush=True)
    scores = pd.concat(scores, ignore_index=True)
    costs = p["cost_missed_defect"], p["cost_scrapped_good"]
    rules = weighed_rules(run, p["scrap_budget"], *costs)  # every fold's scores.csv, as chapter 7 weighs them
    rules.to_csv(run / RULES, index=False)
    oof, per_fold, summary = summarise_cv(scores, p["threshold_rule"], *costs, p["scrap_budget"],
                                          p["review_low"], p["review_high"])
    save_summary(run, oof, per_fold, summary)
    print("shop-floor changes on fold 1's held-out photos ...", flush=True)
    changes = fold_robustness(run / "fold-1", folds[0], p, float(per_fold["threshold"].iloc[0]))
    changes.to_csv(run / ROBUSTNESS, index=False)
    low, high = summary["interval at 0.5"]
    print(f"\nthe threshold rules, each chosen on half of a fold's validation parts and counted on the other "
          f"half (no held-out part):\n{rules.round(4).to_string(index=False)}")
    print(f"\n{per_fold.round(4).to_string(index=False)}\n\nparts never seen, pooled over {args.k} folds: "
          f"accuracy {summary['accuracy at 0.5']:.2%} at 0.5 (95% interval over near-twin groups "
          f"{low:.2%} to {high:.2%}; fold sd {summary['fold sd at 0.5']:.2%}); at the {p['threshold_rule']} "
          f"rule {summary['missed at rule']} of {summary['defects']} defects shipped"
          f"{interval_words(summary, 'shipped')}, {summary['scrapped at rule']} of {summary['good']} good "
          f"parts scrapped{interval_words(summary, 'scrapped')}; by photograph (most of "
          f"its views), {summary['defective photographs shipped at rule']} of "
          f"{summary['defective photographs']} defective shipped, "
          f"{summary['good photographs scrapped at rule']} of {summary['good photographs']} good scrapped\n\n"
          f"fold 1's held-out photos under shop-floor changes:\n{changes.round(4).to_string(index=False)}\n"
          f"written to {run}")
    draws = draw_table(draws_of(run), p["threshold_rule"], *costs, p["scrap_budget"], p["review_low"],
                       p["review_high"])
    if len(draws) > 1:
        print(f"\nevery draw of this recipe (seeds {', '.join(map(str, draws['seed']))}; the same figures, "
              f"each run's own folds and first weights):\n{draws.round(4).to_string(index=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
