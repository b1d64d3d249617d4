"""`make repeat N=5`: train one recipe with N seeds and report mean and sd of the test figures."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd

from lib.config import DEFAULT_PARAMS, OUTPUTS_DIR
from lib.data import DataError
from lib.evaluate import REPEAT_PREDICTIONS, REPEAT_SETTINGS, summarise_runs, test_figures
from lib.params import ParamsError, params_and_data
from lib.runs import data_fingerprint, new_run_dir
from lib.runtime import score_held_out
from lib.scoring import fast_predictor
from lib.train import train_recipe

PART_COLUMNS = ["path", "split", "class_name", "label", "score"]  # kept per seed and part


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.repeat [--n 5] [--params params/default.yaml] [--data-dir D]."""
    parser = argparse.ArgumentParser(prog="python -m lib.repeat", description=__doc__)
    parser.add_argument("--n", type=int, default=5, help="how many seeds (1, 2, ... N)")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    try:
        p, data_root = params_and_data(args.params, args.data_dir)
    except (ParamsError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = new_run_dir(args.outputs, "repeat", dt.datetime.now())
    settings = {"params": str(args.params), "n": args.n, "data_sha256": data_fingerprint(data_root)["sha256"]}
    (out / REPEAT_SETTINGS).write_text(json.dumps(settings, indent=2))
    rows, scored = [], []
    for seed in range(1, args.n + 1):
        print(f"== seed {seed} of {args.n} ==", flush=True)
        run = {**p, "seed": seed, "data_dir": args.data_dir or p["data_dir"]}
        model, table, _ = train_recipe(run, out / f"seed-{seed}")
        parts = score_held_out(fast_predictor(model, p["test_time_views"]), int(model.input_shape[1]), table,
                               p["input_stage"])
        figures = test_figures(parts, p["threshold_rule"], p["cost_missed_defect"], p["cost_scrapped_good"],
                               p["scrap_budget"])
        rows += [{"seed": seed, **r} for r in figures]
        scored.append(parts[PART_COLUMNS].assign(seed=seed))
        pd.concat(scored).to_csv(out / REPEAT_PREDICTIONS, index=False)  # per part, for the label audit
    runs = pd.DataFrame(rows)
    runs.to_csv(out / "repeat_runs.csv", index=False)
    summary = summarise_runs(runs)
    summary.to_csv(out / "repeat_summary.csv")
    print(f"\n{p['model_name']} over {args.n} seeds (test = {held_out_words(p['split'])}):\n"
          f"{summary.to_string()}\nwritten to {out}")
    return 0


def held_out_words(split: str) -> str:
    """What the test parts of a repeat are, for its printout, by the params' split."""
    if split == "grouped":
        return "each seed's own grouped test split: parts whose photograph no network of that seed saw"
    return "the published test split, which shares byte-identical files with train"


if __name__ == "__main__":
    sys.exit(main())
