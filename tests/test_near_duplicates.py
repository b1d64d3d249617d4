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
    assert list((tmp_path / "cache").glob("near-twins-*.csv.gz"))
    with pytest.raises(ValueError, match="unknown split"):
        splits.load_table(root, split="random")


def _album(count: int = 24) -> np.ndarray:
    """Distinct photographs and turned, mirrored, relit views of some of them."""
    photos = [textured_part(s, size=160) for s in range(count)]
    return np.stack(photos + [seen_again(photos[s], 25.0 * s, 8) for s in range(0, count, 3)])


def test_the_search_gives_the_same_pairs_every_time_and_with_one_or_two_workers():
    images = _album()
    table = table_for([f"p{i}" for i in range(len(images))], ["train"] * len(images), [0] * len(images))
    first = nd.near_twin_pairs(images, table, workers=2)
    assert first.equals(nd.near_twin_pairs(images, table, workers=2))
    assert first.equals(nd.near_twin_pairs(images, table, workers=1))
    assert (first["similarity"] >= 0.6).sum() >= 8  # the views were found


def test_a_pairs_file_keeps_every_verdict_at_a_cutoff_and_is_the_same_bytes_each_time(tmp_path):
    root = tmp_path / "casting_data" / "train" / "ok_front"
    root.mkdir(parents=True)
    paths = [str(root / f"{n}.jpeg") for n in "abc"]
    pairs = pd.DataFrame({"a": paths[:2], "b": paths[1:], "view": 0, "inliers": 40,
                          "similarity": [0.59999, 0.6000001]})
    nd.save_pairs(pairs, tmp_path / "one.csv.gz")
    nd.save_pairs(pairs, tmp_path / "two.csv.gz")
    assert (tmp_path / "one.csv.gz").read_bytes() == (tmp_path / "two.csv.gz").read_bytes()
    stored = pd.read_csv(tmp_path / "one.csv.gz")
    assert stored["a"].tolist() == ["train/ok_front/a.jpeg", "train/ok_front/b.jpeg"]  # no machine's root
    back = nd.read_pairs(tmp_path / "one.csv.gz", pd.DataFrame({"path": paths}))
    assert back["a"].tolist() == paths[:2] and ((back["similarity"] >= 0.6) == [False, True]).all()


def test_the_shipped_pairs_are_used_before_any_cache(tmp_path, monkeypatch):
    table = pd.DataFrame({"path": [str(tmp_path / "d" / "train" / "ok_front" / "x.jpeg")]})
    (tmp_path / "d" / "train" / "ok_front").mkdir(parents=True)
    (tmp_path / "d" / "train" / "ok_front" / "x.jpeg").write_bytes(b"jpeg")
    name = f"near-twins-{nd.image_set_key(table)}.csv.gz"
    assert nd.pairs_file(table, tmp_path / "cache") == (tmp_path / "cache" / name, "computed")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / name).write_bytes(b"")
    assert nd.pairs_file(table, tmp_path / "cache")[1] == "cached"
    monkeypatch.setattr(nd, "SHIPPED_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / name).write_bytes(b"")
    assert nd.pairs_file(table, tmp_path / "cache") == (tmp_path / "shipped" / name, "shipped")


def test_the_key_depends_on_the_files_below_the_root_not_on_where_the_root_is(tmp_path):
    for root in ("one", "two"):
        folder = tmp_path / root / "test" / "def_front"
        folder.mkdir(parents=True)
        (folder / "p.jpeg").write_bytes(b"12345")
    key = [nd.image_set_key(pd.DataFrame({"path": [str(tmp_path / r / "test/def_front/p.jpeg")]}))
           for r in ("one", "two")]
    assert key[0] == key[1]
    (tmp_path / "two" / "test" / "def_front" / "p.jpeg").write_bytes(b"123456")
    assert nd.image_set_key(pd.DataFrame({"path": [str(tmp_path / "two/test/def_front/p.jpeg")]})) != key[0]


def test_saving_pairs_read_from_a_file_gives_the_same_file(tmp_path):
    root = tmp_path / "casting_data" / "train" / "ok_front"
    table = pd.DataFrame({"path": [str(root / f"{i}.jpeg") for i in range(50)]})
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"a": table.path[:49], "b": table.path[1:].to_numpy(), "view": 0, "inliers": 20,
                          "similarity": rng.uniform(-0.2, 1, 49)})
    nd.save_pairs(pairs, tmp_path / "first.csv.gz")
    nd.save_pairs(nd.read_pairs(tmp_path / "first.csv.gz", table), tmp_path / "again.csv.gz")
    assert (tmp_path / "first.csv.gz").read_bytes() == (tmp_path / "again.csv.gz").read_bytes()
