"""Which image is train, validation or test: the published and grouped splits, and the run's split table.

Chapter 1 writes the run's split table (`split.csv`: one row per image with its split, label,
near-twin group and whether a copy or near-twin of it was trained on); every later chapter reads
it from the run folder, and builds it the same way when opened alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from lib import near_duplicates
from lib.data import find_data_dir, scan_dataset
from lib.explore import leaked_test_paths

SPLIT_TABLE = "split.csv"
SPLIT_SETTINGS = "split.json"
BIG_GROUP = 0.02  # share of all images above which a near-twin group stays in train (grouped split)
SPLITS = ("published", "grouped")


def take_subset(table: pd.DataFrame, per_class: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of at most per_class images for each split and class (0 keeps all)."""
    if per_class <= 0:
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    sample = shuffled.groupby(["split", "class_name"]).head(per_class)
    return sample.sort_values(["split", "class_name", "path"], ignore_index=True)


def split_train_val(table: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Relabel a seeded, stratified val_fraction of the train rows as split 'val'."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    train = table[table["split"] == "train"]
    _, val_index = train_test_split(
        train.index, test_size=val_fraction, random_state=seed, stratify=train["label"]
    )
    out = table.copy()
    out.loc[val_index, "split"] = "val"
    return out


def hold_out_groups(rows: pd.Index, labels: pd.Series, groups: pd.Series, count: float,
                    seed: int) -> pd.Index:
    """About `count` of the rows, whole near-twin groups only, stratified by label (seeded)."""
    splits = max(2, round(len(rows) / count))
    folds = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed)
    _, held = next(folds.split(rows, labels[rows], groups[rows]))
    return rows[held]


def big_groups(groups: pd.Series) -> pd.Series:
    """True for rows in a group of several images and over BIG_GROUP of all (a long chain of views)."""
    size = groups.map(groups.value_counts())
    return (size > BIG_GROUP * len(groups)) & (size > 1)


def grouped_split(table: pd.DataFrame, groups: pd.Series, test_fraction: float, val_fraction: float,
                  seed: int) -> pd.DataFrame:
    """Re-split all rows into train/val/test so that no near-twin group straddles two splits.

    Groups of several images and larger than BIG_GROUP of all images stay in train, so that test
    and validation are made of many independent photographs rather than one long chain of views.
    """
    for name, fraction in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 < fraction < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {fraction}")
    out = table.assign(split="train")
    big = big_groups(groups)
    test = hold_out_groups(out.index[~big], out["label"], groups, test_fraction * len(table), seed)
    out.loc[test, "split"] = "test"
    rest = out.index[(out["split"] == "train") & ~big]
    val = hold_out_groups(rest, out["label"], groups, val_fraction * (1 - test_fraction) * len(table), seed)
    out.loc[val, "split"] = "val"
    return out


def cv_folds(table: pd.DataFrame, groups: pd.Series, k: int, val_fraction: float, seed: int
             ) -> list[pd.DataFrame]:
    """K tables, one per fold: its held-out rows 'test', validation carved by group from the rest, 'train'.

    Every near-twin group, the long chains too, is held out in exactly one fold (StratifiedGroupKFold);
    validation takes whole groups from the training folds, leaving the long chains in train.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    big, tables = big_groups(groups), []
    for fold, (_, held) in enumerate(folds.split(table.index, table["label"], groups)):
        out = table.assign(split="train", fold=fold)
        out.loc[table.index[held], "split"] = "test"
        training = out.index[out["split"] == "train"]
        val = hold_out_groups(training[~big[training]], out["label"], groups, val_fraction * len(training),
                              seed)
        out.loc[val, "split"] = "val"
        tables.append(out)
    return tables


def load_table(
    data_dir: str | os.PathLike | None = None, val_fraction: float = 0.2, seed: int = 0,
    subset: int = 0, split: str = "published", test_fraction: float = 0.1, near_twin_cutoff: float = 0.6,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Find, scan, optionally subset, and split the data: one row per image, split train/val/test.

    split 'published' keeps the data set's test folder and holds out val_fraction of train;
    'grouped' re-splits all images so that near-twin groups (lib/near_duplicates.py) never straddle
    train, val and test, with test_fraction of all images as test and val_fraction of the rest as val.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; choose 'published' or 'grouped'")
    table = take_subset(scan_dataset(find_data_dir(data_dir)), subset, seed)
    if split == "published":
        return split_train_val(table, val_fraction, seed)
    groups = near_duplicates.flag_near_twins(table, near_twin_cutoff, cache_dir)["twin_group"]
    regrouped = grouped_split(table, groups, test_fraction, val_fraction, seed)
    return near_duplicates.with_twin_flags(regrouped, groups)


def build_split_table(data_dir: str | os.PathLike | None, val_fraction: float, seed: int, subset: int,
                      split: str, test_fraction: float, near_twin_cutoff: float,
                      cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """load_table with, for every row, its near-twin group, twin_seen and byte_twin_seen flags."""
    table = load_table(data_dir, val_fraction, seed, subset, split, test_fraction, near_twin_cutoff,
                       cache_dir)
    if "twin_group" not in table:
        table = near_duplicates.flag_near_twins(table, near_twin_cutoff, cache_dir)
    return table.assign(byte_twin_seen=table["path"].isin(leaked_test_paths(table)))


def run_split_table(run: str | os.PathLike, data_dir: str | os.PathLike | None, val_fraction: float,
                    seed: int, subset: int, split: str, test_fraction: float,
                    near_twin_cutoff: float) -> pd.DataFrame:
    """The run folder's split table: split.csv when made with these settings, else built and saved."""
    run = Path(run)
    settings = {"data_dir": str(find_data_dir(data_dir or None)), "val_fraction": val_fraction,
                "seed": seed, "subset": subset, "split": split, "test_fraction": test_fraction,
                "near_twin_cutoff": near_twin_cutoff}
    table_path, settings_path = run / SPLIT_TABLE, run / SPLIT_SETTINGS
    if table_path.is_file() and settings_path.is_file() and json.loads(settings_path.read_text()) == settings:
        return pd.read_csv(table_path)
    table = build_split_table(data_dir or None, val_fraction, seed, subset, split, test_fraction,
                              near_twin_cutoff, run.parent / "cache")
    partial = table_path.with_suffix(".partial")
    table.to_csv(partial, index=False)
    partial.replace(table_path)  # a half-written table is never read
    settings_path.write_text(json.dumps(settings, indent=2))
    return pd.read_csv(table_path)  # every chapter gets the very same table, as read from the file


def evaluation_subsets(test: pd.DataFrame, split: str = "published") -> dict[str, np.ndarray]:
    """Boolean masks over the test rows: all of them, without byte-identical copies, never seen."""
    return {f"test ({split} split)": np.ones(len(test), bool),
            "test without train duplicates": ~test["byte_twin_seen"].to_numpy(bool),
            "test without near-twins of train": ~test["twin_seen"].to_numpy(bool)}
