"""`make bench` and `make repeat` run end to end on a small generated tree (timings are not asserted)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from lib import bench, repeat, splits
from lib.decision import verdicts
from lib.evaluate import summarise_runs, threshold_metrics
from lib.models import load_model
from lib.runtime import score_table
from lib.scoring import fast_predictor


def _recipe(tmp_path, tree, name, model):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"data_dir: {tree}\nmodel_name: {model}\nimage_size: 32\nbatch_size: 8\n"
                    "epochs: 2\npatience: 2\nverbose: 0\naugmentation: {horizontal_flip: true}\n")
    return path


@pytest.mark.slow
def test_bench_prints_a_row_per_model_and_the_time_ratio(tmp_path, casting_tree, capsys):
    seed = _recipe(tmp_path, casting_tree, "seed", "seed_baseline")
    ours = _recipe(tmp_path, casting_tree, "ours", "fast_cnn")
    assert bench.main(["--seed-recipe", str(seed), "--our-recipe", str(ours),
                       "--outputs", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "seed_baseline" in printed and "fast_cnn" in printed and "ratio" in printed
    (run,) = (tmp_path / "out").glob("*-bench")
    table = pd.read_csv(run / "bench.csv", index_col="model")
    assert list(table.index) == ["seed_baseline", "fast_cnn"]
    assert (table["epochs"] == 2).all()
    for model, recipe in (("seed_baseline", "seed"), ("fast_cnn", "ours")):  # the row is that model's test
        trained = load_model(run / recipe)
        test = splits.load_table(casting_tree, seed=42).query("split == 'test'")
        scored = score_table(fast_predictor(trained, 8), int(trained.input_shape[1]), test)
        m = threshold_metrics(scored.label, scored.score, 0.5)
        assert table.loc[model, "test acc"] == round(m["accuracy"], 4)
        assert (table.loc[model, "FN"], table.loc[model, "FP"]) == (m["fn"], m["fp"])
        every = score_table(dataclasses.replace(fast_predictor(trained, 8), sure=0.0),
                            int(trained.input_shape[1]), test)  # all eight views for every part
        changed = verdicts(scored.score, 0.5, 0.1, 0.9) != verdicts(every.score, 0.5, 0.1, 0.9)
        assert table.loc[model, "verdicts unlike all eight views"] == changed.sum()
        assert 0 <= table.loc[model, "parts scored in four views only"] <= 1


def test_bench_names_a_missing_data_folder_from_the_params_file(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data_dir: {tmp_path / 'nowhere'}\n")
    assert bench.main(["--seed-recipe", str(recipe), "--our-recipe", str(recipe),
                       "--outputs", str(tmp_path / "out")]) == 1
    assert f"data folder not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_bench_refuses_an_unknown_parameter(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epoch: 3\n")
    assert bench.main(["--our-recipe", str(bad), "--outputs", str(tmp_path)]) == 1
    assert "bad.yaml: unknown parameter 'epoch'" in capsys.readouterr().err


@pytest.mark.slow
def test_repeat_reports_mean_and_sd_over_seeds(tmp_path, casting_tree, capsys):
    params = _recipe(tmp_path, casting_tree, "ours", "fast_cnn")
    assert repeat.main(["--n", "2", "--params", str(params), "--outputs", str(tmp_path / "out")]) == 0
    (run,) = (tmp_path / "out").glob("*-repeat")
    runs = pd.read_csv(run / "repeat_runs.csv")
    assert sorted(runs.seed.unique()) == [1, 2] and len(runs) == 4
    assert set(runs["threshold rule"]) == {"0.5", "operating point (scrap_budget)"}  # the default rule
    assert (run / "seed-1" / "best.keras").is_file() and (run / "seed-2" / "best.keras").is_file()
    assert (run / "repeat_summary.csv").is_file()
    parts = pd.read_csv(run / "repeat_predictions.csv")  # per seed and part, for the label audit
    assert sorted(parts.seed.unique()) == [1, 2] and set(parts.split) == {"val", "test"}
    assert parts.groupby("seed").path.nunique().nunique() == 1  # every seed scored the same parts
    assert "test = the published test split" in capsys.readouterr().out


def test_repeat_on_the_grouped_split_says_its_test_parts_are_never_seen_not_the_published_ones():
    grouped = repeat.held_out_words("grouped")
    assert "published" not in grouped and "no network of that seed saw" in grouped
    assert "byte-identical" in repeat.held_out_words("published")


def test_summary_gives_mean_and_sd_over_seeds_per_threshold_rule():
    runs = pd.DataFrame({"seed": [1, 1, 2, 2], "threshold rule": ["0.5", "op", "0.5", "op"],
                         "accuracy": [0.9, 0.8, 1.0, 0.8], "recall": [1.0, 1.0, 0.5, 1.0],
                         "f1": [0.9, 0.8, 0.6, 0.8], "fn": [0, 0, 2, 0], "fp": [3, 5, 0, 5]})
    summary = summarise_runs(runs)
    assert summary.loc["0.5", ("accuracy", "mean")] == pytest.approx(0.95)
    assert summary.loc["0.5", ("accuracy", "std")] == pytest.approx(0.0707, abs=1e-4)
    assert summary.loc["op", ("fp", "std")] == 0 and summary.loc["0.5", ("fn", "mean")] == 1


def test_time_to_reach_an_accuracy_is_the_first_epoch_that_reaches_it():
    history = pd.DataFrame({"val_accuracy": [0.5, 0.87339866, 0.86], "seconds": [10.0, 20.0, 30.0]})
    assert bench.seconds_to_reach(history, history["val_accuracy"].max()) == 20.0
    assert bench.seconds_to_reach(history, 0.9) == float("inf")
