"""`make bench` and `make repeat` run end to end on a small generated tree (timings are not asserted)."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import bench, repeat


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
    mistakes = table["FN"] + table["FP"]  # 12 test images: accuracy and counts must agree
    assert ((1 - table["test acc"]) * 12).round().astype(int).equals(mistakes)


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
    assert set(runs["threshold rule"]) == {"0.5", "operating point (full_recall)"}
    summary = repeat.summarise(runs)
    assert summary.loc["0.5", ("accuracy", "mean")] == pytest.approx(
        runs[runs["threshold rule"] == "0.5"].accuracy.mean(), abs=1e-4)
