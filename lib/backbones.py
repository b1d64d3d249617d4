"""`make backbones`: standard Keras networks against ours, trained alike, measured on parts never seen.

Every network gets the same wall-time budget of training (on this machine's cores): as many whole epochs as a
trial of a few batches says fit in it, at least one, with the cosine schedule laid over them; the same split
(PARAMS, by default the grouped split), seed, part-centred input stage, augmentation and training loop. The
networks, the budget and the figures are written to backbones.json before the first network trains, so the
comparison is fixed before any test figure is seen. The test parts of the grouped split share no photograph
(near-twin group) with training or validation: they are never seen.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd

from lib.config import BACKBONES_CSV, BACKBONES_SETTINGS, OUTPUTS_DIR, PARAMS_DIR
from lib.data import DataError
from lib.evaluate import group_bootstrap_interval, test_figures
from lib.models import BACKBONES, MODELS
from lib.params import ParamsError, params_and_data
from lib.runs import data_fingerprint, new_run_dir, write_whole
from lib.runtime import inspection_speed, score_held_out
from lib.scoring import fast_predictor
from lib.splits import build_split_table
from lib.train import train_recipe
from lib.words import plural

PARTIAL = "backbones-partial.csv"  # the networks measured so far, while the study runs


def measure_backbone(p: dict, table: pd.DataFrame, out: Path, budget_seconds: float) -> dict:
    """Train p's network on the table's split within the budget, then its row: size, training, the never-seen
    test figures at 0.5 and at the operating rule (chosen on validation), and inspection speed."""
    model, _, summary = train_recipe(p, out, table, budget_seconds)
    scored = score_held_out(fast_predictor(model, p["test_time_views"]), int(model.input_shape[1]), table,
                            p["input_stage"])
    half, rule = test_figures(scored, p["threshold_rule"], p["cost_missed_defect"], p["cost_scrapped_good"],
                              p["scrap_budget"])
    test = scored[scored["split"] == "test"]
    low, high = group_bootstrap_interval((test["score"] >= 0.5) == test["label"].astype(bool),
                                         test["twin_group"])
    paths = test["path"].tolist()
    _, per_second, p95 = inspection_speed(fast_predictor(model, p["test_time_views"]), p["image_size"], paths,
                                          p["input_stage"])
    return {"model": p["model_name"], "parameters": model.count_params(), "epochs": summary["epochs_run"],
            "train wall s": round(summary["train_seconds"]),
            "best val accuracy": summary["best_val_accuracy"],
            "test parts": len(test), "accuracy at 0.5": half["accuracy"], "interval low": low,
            "interval high": high, "missed at 0.5": half["fn"], "scrapped at 0.5": half["fp"],
            "threshold": rule["threshold"], "missed at threshold": rule["fn"],
            "scrapped at threshold": rule["fp"], "images/s": round(per_second),
            "one image p95 ms": round(p95, 1)}


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.backbones [--params params/grouped.yaml] [--budget 300] [--models a,b]."""
    parser = argparse.ArgumentParser(prog="python -m lib.backbones", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=PARAMS_DIR / "grouped.yaml")
    parser.add_argument("--budget", type=float, default=300.0, help="training wall seconds per network")
    parser.add_argument("--models", default=",".join(BACKBONES), help="comma-separated model_name values")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names or args.budget <= 0:
        why = (f"unknown model {', '.join(unknown)}; choose from {', '.join(MODELS)}" if unknown
               else "--models names none" if not names else f"--budget must be positive, got {args.budget}")
        print(f"error: {why}", file=sys.stderr)
        return 2
    try:
        p, root = params_and_data(args.params, args.data_dir)
    except (ParamsError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    table = build_split_table(root, p["val_fraction"], p["seed"], p["subset"], p["split"], p["test_fraction"],
                              p["near_twin_cutoff"], args.outputs / "cache")
    out = new_run_dir(args.outputs, "backbones", dt.datetime.now())
    settings = {"params": str(args.params), "split": p["split"], "seed": p["seed"], "models": names,
                "budget_seconds": args.budget, "image_size": p["image_size"], "input_stage": p["input_stage"],
                "views": p["test_time_views"], "threshold_rule": p["threshold_rule"],
                "data_sha256": data_fingerprint(root)["sha256"]}
    write_whole(out / BACKBONES_SETTINGS, json.dumps(settings, indent=2))
    counts = table["split"].value_counts()
    print(f"backbone study in {out}: {len(names)} networks, {args.budget:.0f} s of training each; split "
          f"{p['split']}: train {counts.get('train', 0)}, validation {counts.get('val', 0)}, "
          f"test {counts.get('test', 0)}", flush=True)
    rows = []
    for number, name in enumerate(names, 1):
        print(f"== {number}/{len(names)}: {name} ==", flush=True)
        rows.append(measure_backbone({**p, "model_name": name}, table, out / name, args.budget))
        row = rows[-1]
        print(f"{name}: {plural(row['epochs'], 'epoch')} in {row['train wall s']} s; never-seen accuracy "
              f"{row['accuracy at 0.5']:.2%} at 0.5 ({row['missed at 0.5']} missed, {row['scrapped at 0.5']} "
              f"scrapped); {row['images/s']} images/s", flush=True)
        write_whole(out / PARTIAL, pd.DataFrame(rows).to_csv(index=False))
    result = pd.DataFrame(rows)
    write_whole(out / BACKBONES_CSV, result.to_csv(index=False))
    (out / PARTIAL).unlink()
    print(f"\n{result.round(4).to_string(index=False)}\n\ntest = the {p['split']} split's test parts"
          f"{', never seen in training' if p['split'] == 'grouped' else ''}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
