"""Counts, formats and the byte-identical audit on generated images with known duplicates."""

from __future__ import annotations

import shutil

import cv2
import numpy as np

from lib import explore
from lib.data import scan_dataset
from lib.splits import split_train_val


def _with_known_duplicates(tree):
    """Copy two train defects and one train ok part into test under new names; return their paths."""
    copies = []
    for source, target in [("train/def_front/cast_def_0_1.jpeg", "test/def_front/cast_def_0_901.jpeg"),
                           ("train/def_front/cast_def_0_2.jpeg", "test/def_front/cast_def_0_902.jpeg"),
                           ("train/ok_front/cast_ok_0_3.jpeg", "test/ok_front/cast_ok_0_903.jpeg")]:
        shutil.copy(tree / source, tree / target)
        copies.append(str(tree / target))
    shutil.copy(tree / "test/ok_front/cast_ok_0_0.jpeg", tree / "test/ok_front/cast_ok_0_904.jpeg")
    return copies


def test_audit_finds_exactly_the_test_files_copied_from_train(casting_tree):
    copies = _with_known_duplicates(casting_tree)
    table = split_train_val(scan_dataset(casting_tree), 0.2, seed=0)
    leaked = explore.cross_split_duplicates(explore.exact_duplicates(table))
    assert sorted(leaked.path) == sorted(copies)  # the test-to-test copy is not a leak
    assert leaked.class_name.value_counts().to_dict() == {"def_front": 2, "ok_front": 1}
    assert explore.leaked_test_paths(table) == set(copies)


def test_cleaned_test_split_removes_exactly_the_duplicated_files(casting_tree):
    copies = _with_known_duplicates(casting_tree)
    table = split_train_val(scan_dataset(casting_tree), 0.2, seed=0)
    test = table[table.split == "test"]
    clean = test[~test.path.isin(explore.leaked_test_paths(table))]
    assert len(test) - len(clean) == len(copies) and not set(clean.path) & set(copies)


def test_class_counts_have_totals_in_split_order(casting_tree):
    counts = explore.class_counts(split_train_val(scan_dataset(casting_tree), 0.2, seed=0))
    assert list(counts.index) == ["train", "val", "test", "Total"]
    assert counts.loc["Total", "Total"] == 52 and counts.loc["val", "Total"] == 8


def test_formats_report_size_channels_and_colour(casting_tree):
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 2] = 200  # a red picture: three channels that differ
    cv2.imwrite(str(casting_tree / "test/ok_front/red.png"), colour)
    formats = explore.image_formats(scan_dataset(casting_tree)).sort_values("channels")
    assert formats.to_dict("records") == [
        {"height": 64, "width": 64, "channels": 1, "identical_channels": True, "files": 52},
        {"height": 64, "width": 64, "channels": 3, "identical_channels": False, "files": 1}]
    assert "2 different formats" in explore.describe_formats(formats)
