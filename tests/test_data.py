"""The data layer: finding, scanning, checking, splitting and batching images."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lib.data import (
    DataError,
    find_data_dir,
    find_image_files,
    load_images,
    read_image,
    scan_dataset,
)
from lib.splits import split_train_val
from lib.train import make_dataset


def test_scan_lists_every_image_with_defect_as_positive(casting_tree):
    table = scan_dataset(casting_tree)
    assert len(table) == 2 * (20 + 6)
    assert list(table.columns) == ["path", "split", "class_name", "label"]
    assert set(table.loc[table.class_name == "def_front", "label"]) == {1}
    assert set(table.loc[table.class_name == "ok_front", "label"]) == {0}
    assert table.equals(scan_dataset(casting_tree))


def test_find_data_dir_prefers_argument_then_environment(casting_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("CASTING_DATA_DIR", str(casting_tree))
    assert find_data_dir() == casting_tree.resolve()
    with pytest.raises(DataError, match="data folder not found: .*nowhere"):
        find_data_dir(tmp_path / "nowhere")


def test_missing_data_folder_names_path_and_kaggle(tmp_path, monkeypatch):
    monkeypatch.setenv("CASTING_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match=r"absent.*ravirajsinh45"):
        find_data_dir()


def test_missing_class_folder_is_named(casting_tree):
    shutil.rmtree(casting_tree / "test" / "ok_front")
    with pytest.raises(DataError, match=r"missing folder: .*test/ok_front"):
        scan_dataset(casting_tree)


def test_empty_class_folder_is_named(casting_tree):
    for f in (casting_tree / "train" / "def_front").iterdir():
        f.unlink()
    (casting_tree / "train" / "def_front" / ".DS_Store").write_bytes(b"\0\1")
    with pytest.raises(DataError, match=r"no images in .*train/def_front"):
        scan_dataset(casting_tree)


def test_non_image_files_are_skipped_by_name(casting_tree):
    (casting_tree / "train" / "ok_front" / ".DS_Store").write_bytes(b"\0\1")
    (casting_tree / "train" / "ok_front" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning) as warned:
        table = scan_dataset(casting_tree)
    named = " ".join(str(w.message) for w in warned)
    assert "notes.txt" in named and ".DS_Store" in named
    assert not table.path.str.contains("DS_Store|notes").any()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"this is text, not a picture", "not a readable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x12" * 200, "truncated JPEG"),
    ],
    ids=["zero-byte", "text-named-jpeg", "corrupt-jpeg"],
)
def test_bad_image_is_skipped_with_its_name(casting_tree, content, message):
    bad = casting_tree / "train" / "def_front" / "cast_def_0_bad.jpeg"
    bad.write_bytes(content)
    table = scan_dataset(casting_tree)
    with pytest.warns(UserWarning, match=f"{message}.*cast_def_0_bad.jpeg"):
        images, kept = load_images(table, size=32)
    assert len(kept) == len(table) - 1 == len(images)
    assert str(bad) not in set(kept.path)
    with pytest.raises(DataError, match="cast_def_0_bad.jpeg"):
        read_image(bad, 32)


def test_read_image_gives_grayscale_of_requested_size(casting_tree):
    path = next((casting_tree / "test" / "ok_front").iterdir())
    image = read_image(path, 40)
    assert image.shape == (40, 40) and image.dtype == np.uint8


def test_find_image_files_walks_folders_and_names_a_missing_path(casting_tree, tmp_path):
    one = casting_tree / "train" / "ok_front" / "cast_ok_0_0.jpeg"
    files, hidden = find_image_files([casting_tree / "test", one])
    assert len(files) == 2 * 6 + 1 and files[-1].endswith("cast_ok_0_0.jpeg") and hidden == []
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*absent"):
        find_image_files([tmp_path / "absent"])


def test_split_is_stratified_twenty_percent_and_reproducible(casting_tree):
    table = scan_dataset(casting_tree)
    a = split_train_val(table, 0.2, seed=3)
    b = split_train_val(table, 0.2, seed=3)
    c = split_train_val(table, 0.2, seed=4)
    val = a[a.split == "val"]
    assert len(val) == 8 and val.label.sum() == 4
    assert (a.split == "test").sum() == 12
    assert a.equals(b)
    assert not a.split.equals(c.split)


def test_pipeline_batches_scaled_single_channel_images(casting_tree):
    table = scan_dataset(casting_tree)
    images, kept = load_images(table, size=48)
    ds = make_dataset(images, kept.label.to_numpy(), batch_size=16, shuffle=True, seed=1)
    x, y = next(iter(ds))
    assert x.shape == (16, 48, 48, 1) and y.shape == (16,)
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    assert sum(int(b[0].shape[0]) for b in ds) == len(kept)


@pytest.mark.realdata
def test_real_data_has_published_counts(real_data):
    counts = scan_dataset(real_data).groupby(["split", "class_name"]).size().to_dict()
    assert counts == {
        ("test", "def_front"): 453,
        ("test", "ok_front"): 262,
        ("train", "def_front"): 3758,
        ("train", "ok_front"): 2875,
    }
