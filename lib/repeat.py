"""`make repeat N=5`: train one recipe with N seeds and report mean and sd of the test figures."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from lib import data, evaluate
from lib.bench import recipe, train_recipe
from lib.params import ParamsError
from lib.report import OUTPUTS_DIR, new_run_dir

FIGURES = ["accuracy", "recall", "f1", "fn", "fp"]


def evaluate_run(model, table: pd.DataFrame, rule: str, cost_fn: float, cost_fp: float,
                 views: int = 1) -> list[dict]:
    """Test figures at 0.5 and at the operating point chosen on validation by `rule`."""
    scored = evaluate.score_table(model, table[table["split"].isin(["val", "test"])], views)
    val, test = scored[scored["split"] == "val"], scored[scored["split"] == "test"]
    chosen, _ = evaluate.choose_threshold(val["label"], val["score"], rule, cost_fn, cost_fp)
    rows = []
    for name, threshold in (("0.5", 0.5), (f"operating point ({rule})", chosen)):
        m = evaluate.threshold_metrics(test["label"], test["score"], threshold)
        rows.append({"threshold rule": name, "threshold": threshold, **{k: m[k] for k in FIGURES}})
    return rows


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of each figure per threshold rule, over the seeds."""
    return runs.groupby("threshold rule")[FIGURES].agg(["mean", "std"]).round(4)


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.repeat [--n 5] [--params params/default.yaml] [--data-dir D]."""
    parser = argparse.ArgumentParser(prog="python -m lib.repeat", description=__doc__)
    parser.add_argument("--n", type=int, default=5, help="how many seeds (1, 2, ... N)")
    parser.add_argument("--params", type=Path, default=Path("params/default.yaml"))
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    try:
        p = recipe(args.params)
        data.find_data_dir(args.data_dir or p["data_dir"] or None)
    except (ParamsError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = new_run_dir(args.outputs, "repeat", dt.datetime.now())
    rows = []
    for seed in range(1, args.n + 1):
        print(f"== seed {seed} of {args.n} ==", flush=True)
        run = {**p, "seed": seed, "data_dir": args.data_dir or p["data_dir"]}
        model, table, _ = train_recipe(run, out / f"seed-{seed}")
        rows += [{"seed": seed, **r} for r in evaluate_run(model, table, p["threshold_rule"],
                                                           p["cost_missed_defect"],
                                                           p["cost_scrapped_good"],
                                                           p["test_time_views"])]
    runs = pd.DataFrame(rows)
    runs.to_csv(out / "repeat_runs.csv", index=False)
    summary = summarise(runs)
    summary.to_csv(out / "repeat_summary.csv")
    print(f"\n{p['model_name']} over {args.n} seeds (test = the published test split, which shares "
          f"byte-identical files with train):\n{summary.to_string()}\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
