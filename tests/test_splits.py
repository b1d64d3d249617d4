"""The run's split table: written with every flag, read back by later chapters, rebuilt on new settings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd

from lib import splits

SETTINGS = {"val_fraction": 0.25, "seed": 0, "subset": 0, "split": "published", "test_fraction": 0.1,
            "near_twin_cutoff": 0.6}


def test_the_split_table_has_every_flag_and_is_read_back_unchanged(casting_tree, tmp_path):
    shutil.copy(casting_tree / "train/ok_front/cast_ok_0_3.jpeg", casting_tree / "test/ok_front/copy.jpeg")
    run = tmp_path / "outputs" / "run"
    run.mkdir(parents=True)
    built = splits.run_split_table(run, casting_tree, **SETTINGS)
    assert {"path", "split", "label", "twin_group", "twin_seen", "byte_twin_seen"} <= set(built.columns)
    copied = built.set_index("path").loc[str(casting_tree / "test/ok_front/copy.jpeg")]
    assert copied.byte_twin_seen and copied.twin_seen  # a byte copy is also a near-twin
    assert built.byte_twin_seen.sum() == 1
    assert (run / "split.csv").is_file() and list((tmp_path / "outputs" / "cache").glob("near-twins-*"))
    table = pd.read_csv(run / "split.csv")
    table.loc[0, "split"] = "marked"  # a later chapter must read this file, not build its own
    table.to_csv(run / "split.csv", index=False)
    again = splits.run_split_table(run, casting_tree, **SETTINGS)
    assert again.loc[0, "split"] == "marked"
    assert again.drop(columns="split").equals(built.drop(columns="split"))


def test_other_settings_build_the_table_again(casting_tree, tmp_path):
    (tmp_path / "run").mkdir()
    first = splits.run_split_table(tmp_path / "run", casting_tree, **SETTINGS)
    other = splits.run_split_table(tmp_path / "run", casting_tree, **{**SETTINGS, "seed": 1})
    assert not first.split.equals(other.split)
    assert json.loads((tmp_path / "run" / "split.json").read_text())["seed"] == 1


def test_the_evaluation_subsets_drop_copies_and_near_twins_of_train():
    test = pd.DataFrame({"byte_twin_seen": [True, False, False, False],
                         "twin_seen": [True, True, False, False]})
    subsets = splits.evaluation_subsets(test, "grouped")
    assert list(subsets) == ["test (grouped split)", "test without train duplicates",
                             "test without near-twins of train"]
    assert [m.tolist() for m in subsets.values()] == [[True] * 4, [False, True, True, True],
                                                      [False, False, True, True]]
    assert all(isinstance(m, np.ndarray) for m in subsets.values())
