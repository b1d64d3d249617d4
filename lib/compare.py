"""`make compare`: a candidate recipe against the default, draw by draw, on the `make cv` seeds both drew.

A screen of a training change pairs each `make cv SEED=s` of the candidate with the default's draw of the
same seed (the same folds and first weights), so the difference is the change's and not the draw's. This
prints each pair's out-of-fold figures, their means and the candidate's wins, and fold 1's shop-floor
changes over the pairs. It trains nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from lib.config import DEFAULT_PARAMS, OUTPUTS_DIR
from lib.crossval import cv_settings
from lib.cv_results import draws_by_seed, paired_changes, paired_draws
from lib.data import DataError
from lib.params import ParamsError, params_and_data
from lib.runs import data_fingerprint

SHARES = ["accuracy at 0.5", "fold sd at 0.5", "defects shipped at rule", "good parts scrapped at rule",
          "good photographs scrapped at rule"]  # printed as percentages


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.compare --params CANDIDATE [--base params/default.yaml] [--k 5]."""
    parser = argparse.ArgumentParser(prog="python -m lib.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, required=True, help="the candidate's params file")
    parser.add_argument("--base", type=Path, default=DEFAULT_PARAMS, help="what it is measured against")
    parser.add_argument("--k", type=int, default=5, help="the folds of the cv runs (default 5)")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    args.base, args.params = _here(args.base), _here(args.params)
    try:
        (base, root), (candidate, _) = (params_and_data(f, args.data_dir) for f in (args.base, args.params))
    except (ParamsError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    sha = data_fingerprint(root)["sha256"]
    base_runs, candidate_runs = (draws_by_seed(args.outputs, cv_settings(p, args.k, sha))
                                 for p in (base, candidate))
    seeds = sorted(set(base_runs) & set(candidate_runs))
    if not seeds:
        print(f"error: no seed has a finished {args.k}-fold `make cv` run of both {args.params} (seeds "
              f"{_listed(candidate_runs)}) and {args.base} (seeds {_listed(base_runs)}) in {args.outputs}; "
              f"run `make cv PARAMS=... SEED=s` for both with the same s", file=sys.stderr)
        return 1
    decide = (base["threshold_rule"], base["cost_missed_defect"], base["cost_scrapped_good"],
              base["scrap_budget"], base["review_low"], base["review_high"])
    pairs = paired_draws(base_runs, candidate_runs, *decide)
    print(f"{args.params} (candidate) against {args.base} (base), {len(seeds)} paired draws (seeds "
          f"{', '.join(map(str, seeds))}), each at {base['threshold_rule']} as {args.base} decides:\n\n"
          f"{_percent(pairs).to_string(index=False)}\n\n{_percent(mean_of_pairs(pairs)).to_string()}\n\n"
          f"the candidate higher at 0.5 in {wins(pairs)} of {len(seeds)} draws")
    changes = paired_changes(base_runs, candidate_runs)
    if not changes.empty:
        shown = changes.assign(**{c: 100 * changes[c] for c in ("base", "candidate", "difference")})
        print(f"\nfold 1's held-out photos under chapter 6's changes, mean accuracy at 0.5 (%) over the "
              f"pairs:\n{shown.round(2).to_string(index=False)}")
    return 0


def mean_of_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each recipe's figures over its paired draws: the mean of each (photographs wrong: their sum)."""
    figures = pairs.drop(columns=["seed", "run"])
    means = figures.groupby("recipe").mean()
    means["photographs wrong at 0.5"] = figures.groupby("recipe")["photographs wrong at 0.5"].sum()
    return means.rename(columns={"photographs wrong at 0.5": "photographs wrong at 0.5, all draws"})


def wins(pairs: pd.DataFrame) -> int:
    """In how many seeds the candidate's pooled accuracy at 0.5 is above the base's."""
    side = pairs.pivot(index="seed", columns="recipe", values="accuracy at 0.5")
    return int((side["candidate"] > side["base"]).sum())


def _percent(table: pd.DataFrame) -> pd.DataFrame:
    """The shares of a figures table as percentages with two decimals, seconds whole."""
    shown = table.copy()
    for column in shown.columns:
        if column in SHARES:
            shown[column] = (100 * shown[column]).round(2)
    return shown.round({"training s per fold": 0})


def _here(path: Path) -> Path:
    """path relative to the working folder where it lies under it (params/default.yaml), else as given."""
    where, here = path.resolve(), Path.cwd().resolve()
    return where.relative_to(here) if where.is_relative_to(here) else path


def _listed(runs: dict[int, Path]) -> str:
    """The seeds of some draws, or 'none'."""
    return ", ".join(map(str, runs)) or "none"


if __name__ == "__main__":
    sys.exit(main())
