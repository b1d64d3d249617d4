"""Near-duplicate finder and grouped split, on generated textured images."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from lib import near_duplicates as nd
from lib import splits


def textured_part(seed: int, size: int = 300, surface: int | None = None) -> np.ndarray:
    """A disc with random surface detail (seeded by `surface`, default seed) on a bench with its own grain."""
    bench = cv2.GaussianBlur(np.random.default_rng(seed).normal(120, 40, (size, size)), (0, 0), 1.5)
    image = np.clip(bench, 0, 255).astype(np.uint8)
    mask = np.zeros_like(image)
    cv2.circle(mask, (size // 2, size // 2), size // 3, 255, -1)
    rng = np.random.default_rng(seed if surface is None else surface + 1000)
    detail = np.clip(cv2.GaussianBlur(rng.normal(170, 50, (size, size)), (0, 0), 1.2), 0, 255)
    image[mask > 0] = detail.astype(np.uint8)[mask > 0]
    return image


def seen_again(image: np.ndarray, angle: float, brighter: int) -> np.ndarray:
    """The photograph turned about its centre, mirrored and made brighter, as the publisher did."""
    size = image.shape[0]
    turn = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    turned = cv2.warpAffine(image, turn, (size, size), borderMode=cv2.BORDER_REFLECT)
    return np.clip(cv2.flip(turned, 1).astype(int) + brighter, 0, 255).astype(np.uint8)


def table_for(paths: list[str], splits: list[str], labels: list[int]) -> pd.DataFrame:
    classes = ["def_front" if label else "ok_front" for label in labels]
    return pd.DataFrame({"path": paths, "split": splits, "class_name": classes, "label": labels})


def test_turned_mirrored_brighter_copy_is_a_near_twin_and_a_stranger_is_not():
    original, stranger = textured_part(1), textured_part(2)
    images = np.stack([original, seen_again(original, 37.0, 20), stranger])
    pairs = nd.near_twin_pairs(images, table_for(["a", "b", "c"], ["train", "test", "test"], [1, 1, 1]))
    score = {(r.a, r.b): r.similarity for r in pairs.itertuples()}
    assert score[("a", "b")] > 0.5
    assert score.get(("a", "c"), 0.0) < 0.2
    assert score.get(("b", "c"), 0.0) < 0.2


def test_the_same_part_on_another_photograph_of_the_bench_is_not_a_near_twin():
    one = textured_part(1, surface=7)
    other_photo = seen_again(textured_part(2, surface=7), 37.0, 0)  # every part looks alike: same surface
    images = np.stack([one, other_photo])
    pairs = nd.near_twin_pairs(images, table_for(["a", "b"], ["train", "test"], [0, 0]))
    assert pairs["inliers"].max() >= nd.MIN_INLIERS  # the parts align ...
    assert pairs["similarity"].max() < 0.2  # ... but the bench around them does not


def test_groups_follow_chains_of_twins_and_flags_say_who_was_seen_in_train():
    table = table_for(["a", "b", "c", "d"], ["train", "test", "test", "test"], [1, 1, 0, 0])
    pairs = pd.DataFrame({"a": ["a", "b", "c"], "b": ["b", "c", "d"], "view": 0, "inliers": 40,
                          "similarity": [0.9, 0.8, 0.1]})
    groups = nd.twin_groups(table, pairs, cutoff=0.5)
    assert groups.iloc[0] == groups.iloc[1] == groups.iloc[2] != groups.iloc[3]
    flagged = nd.with_twin_flags(table, groups)
    assert flagged["twin_seen"].tolist() == [False, True, True, False]
    assert flagged["label_conflict"].tolist() == [True, True, True, False]
    counts = nd.twin_counts(flagged)
    assert counts.loc["all", "near_twin_in_train"] == 2 and counts.loc["all", "no_twin_in_train"] == 1
    assert counts.loc["all", "images"] == 3


def test_best_matches_and_the_pairs_either_side_of_the_cutoff():
    table = table_for(["t1", "t2", "t3", "t4", "r1", "r2"], ["test"] * 4 + ["train"] * 2, [1] * 6)
    pairs = pd.DataFrame({"a": ["r1", "t2", "t2", "t3", "t4"], "b": ["t1", "r1", "r2", "t1", "r2"],
                          "view": 0, "inliers": 30, "similarity": [0.9, 0.3, 0.55, 0.99, 0.4]})
    best = nd.best_matches(table, pairs).set_index("path")
    assert best.loc["t1", "match"] == "r1" and best.loc["t2", "match"] == "r2"
    assert best.loc["t3", "similarity"] == 0.0  # its only twin is in test, not in train
    sides = nd.near_cutoff(best.reset_index(), cutoff=0.5, each=1)
    assert sides["path"].tolist() == ["t2", "t4"]


def test_grouped_split_never_lets_a_group_straddle_two_splits():
    rng = np.random.default_rng(0)
    groups = pd.Series(np.repeat(np.arange(200), rng.integers(1, 8, 200)))
    labels = (groups % 3 == 0).astype(int)
    table = table_for([f"p{i}" for i in range(len(groups))], ["train"] * len(groups), labels.tolist())
    out = splits.grouped_split(table, groups, test_fraction=0.1, val_fraction=0.2, seed=3)
    assert (out.groupby(groups)["split"].nunique() == 1).all()
    shares = out["split"].value_counts(normalize=True)
    assert 0.05 < shares["test"] < 0.15 and 0.12 < shares["val"] < 0.28


def test_grouped_split_keeps_a_long_chain_of_views_in_train():
    groups = pd.Series(np.r_[np.repeat(0, 60), np.arange(1, 301)])  # one chain of 60 views, 300 single photos
    table = table_for([f"p{i}" for i in range(360)], ["train"] * 360, [i % 2 for i in range(360)])
    out = splits.grouped_split(table, groups, test_fraction=0.1, val_fraction=0.2, seed=0)
    assert (out["split"][groups == 0] == "train").all()
    assert 25 < (out["split"] == "test").sum() < 47


def test_load_table_grouped_split_on_generated_images(tmp_path):
    root = tmp_path / "casting_data"
    for split, seeds in (("train", range(0, 6)), ("test", range(6, 8))):
        for class_name in ("def_front", "ok_front"):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            for s in seeds:
                seed = s + (100 if class_name == "ok_front" else 0)
                cv2.imwrite(str(folder / f"{seed}.jpeg"), textured_part(seed))
    # the test folder also holds a turned view of a train photograph: a near-twin across splits
    cv2.imwrite(str(root / "test" / "def_front" / "twin_of_0.jpeg"), seen_again(textured_part(0), 90, 10))
    table = splits.load_table(root, val_fraction=0.25, seed=0, split="grouped", test_fraction=0.25,
                            cache_dir=tmp_path / "cache")
    twin_splits = table[table["path"].str.contains(r"/0\.jpeg$|twin_of_0")]["split"]
    assert twin_splits.nunique() == 1
    assert set(table["split"]) == {"train", "val", "test"}
    assert list((tmp_path / "cache").glob("near-twins-*.csv"))
    with pytest.raises(ValueError, match="unknown split"):
        splits.load_table(root, split="random")
