"""`make bench`: train the seed recipe and ours on the real data and print speed and accuracy."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lib import data, evaluate, train
from lib.inspect import fast_predictor, score_files
from lib.params import ParamsError, declared_parameters, load_params, validate_params
from lib.report import NOTEBOOKS_DIR, OUTPUTS_DIR, new_run_dir

RECIPE_NOTEBOOKS = (NOTEBOOKS_DIR / "03_train.ipynb", NOTEBOOKS_DIR / "04_evaluate.ipynb")
DEFAULTS = {"val_fraction": 0.2, "seed": 42, "subset": 0, "data_dir": "", "verbose": 2}


def recipe(path: Path, notebooks: tuple[Path, ...] = RECIPE_NOTEBOOKS) -> dict:
    """A params file's settings over the defaults of the training and evaluation notebooks; checked whole."""
    import ast

    import papermill

    params = load_params(path)
    validate_params(params, declared_parameters(sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))), path)
    defaults = {k: ast.literal_eval(v["default"]) for notebook in notebooks
                for k, v in papermill.inspect_notebook(str(notebook)).items()}
    return {**defaults, **DEFAULTS, **{k: v for k, v in params.items() if k in defaults}}


def train_recipe(p: dict, out: Path):
    """Train one recipe into out/; return the best model, the split table and the training summary."""
    train.set_seed(p["seed"])
    table = data.load_table(p["data_dir"] or None, p["val_fraction"], p["seed"], p["subset"], p["split"],
                            p["test_fraction"], p["near_twin_cutoff"])
    train_ds, val_ds, steps = train.training_datasets(table, p["image_size"], p["batch_size"],
                                                      p["augmentation"], p["seed"])
    model = train.new_model(p["model_name"], p["image_size"], p["learning_rate"], p["lr_schedule"],
                            p["epochs"], steps)
    summary = train.fit_model(model, train_ds, val_ds, out, p["epochs"], p["patience"], p["verbose"],
                              precise_bn_batches=p["precise_bn_batches"])
    return train.load_model(out), table, summary


def bench_one(p: dict, out: Path) -> tuple[dict, pd.DataFrame]:
    """Train one recipe into out/, then score the test JPEGs; its row of figures and its history."""
    best, table, summary = train_recipe(p, out)
    test = table[table["split"] == "test"]
    paths, size = test["path"].tolist(), int(best.input_shape[1])
    predict = fast_predictor(best, p["test_time_views"])
    score_files(predict, size, paths[:64])  # warm-up
    start = time.perf_counter()
    scores = score_files(predict, size, paths, batch_size=64)["defect_probability"].to_numpy()
    throughput = len(test) / (time.perf_counter() - start)
    latency = single_image_latency(predict, size, paths[:200])
    m = evaluate.threshold_metrics(test["label"].to_numpy(), scores, 0.5)
    row = {"model": p["model_name"], "image px": p["image_size"], "views scored": p["test_time_views"],
           "epochs": summary["epochs_run"],
           "train wall s": round(summary["train_seconds"], 1),
           "best val acc": round(summary["best_val_accuracy"], 4),
           "test acc": round(m["accuracy"], 4), "defect recall": round(m["recall"], 4),
           "FN": m["fn"], "FP": m["fp"], "images/s (JPEG to prob, batch 64)": round(throughput),
           "one image p95 ms": round(latency, 1)}
    return row, pd.read_csv(out / train.HISTORY_CSV)


def single_image_latency(predict, size: int, paths: list[str], percentile: float = 95) -> float:
    """The given percentile of milliseconds to answer one image file at a time (model loaded)."""
    times = []
    for path in paths:
        start = time.perf_counter()
        score_files(predict, size, [path])
        times.append(1000 * (time.perf_counter() - start))
    return float(np.percentile(times, percentile))


def seconds_to_reach(history: pd.DataFrame, accuracy: float) -> float:
    """Training wall seconds until validation accuracy first reaches `accuracy` (inf if never)."""
    reached = history[history["val_accuracy"] >= accuracy - 1e-9]
    return float(reached["seconds"].iloc[0]) if len(reached) else float("inf")


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m lib.bench [--seed-recipe F] [--our-recipe F] [--data-dir D]."""
    parser = argparse.ArgumentParser(prog="python -m lib.bench", description=__doc__)
    parser.add_argument("--seed-recipe", type=Path, default=Path("params/seed.yaml"))
    parser.add_argument("--our-recipe", type=Path, default=Path("params/default.yaml"))
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--outputs", type=Path, default=OUTPUTS_DIR)
    args = parser.parse_args(argv)
    try:
        recipes = [recipe(args.seed_recipe), recipe(args.our_recipe)]
        for p in recipes:
            p["data_dir"] = args.data_dir or p["data_dir"]
            data.find_data_dir(p["data_dir"] or None)
    except (ParamsError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = new_run_dir(args.outputs, "bench", dt.datetime.now())
    rows, histories = [], []
    for p, name in zip(recipes, ("seed", "ours")):
        print(f"== training {p['model_name']} ({name} recipe) ==", flush=True)
        row, history = bench_one(p, out / name)
        rows.append(row)
        histories.append(history)
    table = pd.DataFrame(rows).set_index("model")
    target = rows[0]["best val acc"]
    seed_s, ours_s = (seconds_to_reach(h, target) for h in histories)
    ratio = seed_s / ours_s if np.isfinite(ours_s) else float("nan")
    text = (table.astype(object).T.to_string()  # object columns: counts print without decimals
            + f"\n\nwall time to reach the seed's best validation accuracy "
            f"({target:.4f}): seed {seed_s:.0f} s, ours {ours_s:.0f} s, ratio {ratio:.1f}x\n"
            "test = the published test split, which shares byte-identical files with train\n")
    print("\n" + text)
    table.to_csv(out / "bench.csv")
    (out / "bench.txt").write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
