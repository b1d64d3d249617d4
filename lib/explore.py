"""Facts about the data set: counts, image formats, brightness, byte-identical files."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lib.words import plural

SPLIT_ORDER = ["train", "val", "test"]


def class_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Images per split (rows: train, val, test, Total) and class (columns, with Total)."""
    counts = pd.crosstab(table["split"], table["class_name"], margins=True, margins_name="Total")
    order = [s for s in SPLIT_ORDER if s in counts.index] + ["Total"]
    return counts.loc[order]


def image_format(path: str | os.PathLike) -> dict:
    """Height, width, channel count and whether the colour channels are identical, for one file."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        return {"height": None, "width": None, "channels": None, "identical_channels": None}
    channels = 1 if image.ndim == 2 else image.shape[2]
    same = True if channels == 1 else bool((image[..., :3] == image[..., :1]).all())
    return {"height": image.shape[0], "width": image.shape[1], "channels": channels,
            "identical_channels": same}


def image_formats(table: pd.DataFrame) -> pd.DataFrame:
    """How many files have each (height, width, channels, identical channels) combination."""
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        formats = pd.DataFrame(list(pool.map(image_format, table["path"])))
    columns = ["height", "width", "channels", "identical_channels"]
    return formats.value_counts(columns, dropna=False).rename("files").reset_index()


def describe_formats(formats: pd.DataFrame) -> str:
    """One sentence on the image sizes and channels found."""
    parts = [
        f"{plural(int(r.files), 'file')} of {r.height}x{r.width} px with {plural(int(r.channels), 'channel')}"
        + (" (all channels identical: grayscale content)" if r.identical_channels and r.channels > 1
           else "")
        for r in formats.itertuples()
    ]
    verdict = "one format only" if len(formats) == 1 else f"{len(formats)} different formats"
    return f"Found {verdict}: " + "; ".join(parts) + "."


def mean_brightness(images: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """The table with a column of each image's mean pixel value (0-255)."""
    return table.assign(mean_brightness=images.reshape(len(images), -1).mean(axis=1))


def file_hash(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def exact_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of every file whose bytes equal another file's, with a 'hash' column, grouped by hash."""
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        hashed = table.assign(hash=list(pool.map(file_hash, table["path"])))
    dupes = hashed[hashed.duplicated("hash", keep=False)]
    return dupes.sort_values(["hash", "split", "path"], ignore_index=True)


def cross_split_duplicates(duplicates: pd.DataFrame, split: str = "test",
                           other: tuple[str, ...] = ("train", "val")) -> pd.DataFrame:
    """Files of `split` with a byte-identical twin in `other` splits: path, class, twin path."""
    left = duplicates[duplicates["split"] == split]
    right = duplicates[duplicates["split"].isin(other)][["hash", "path", "split", "class_name"]]
    pairs = left.merge(right, on="hash", suffixes=("", "_twin"))
    return pairs.drop_duplicates("path", ignore_index=True)[
        ["path", "split", "class_name", "path_twin", "split_twin", "class_name_twin", "hash"]
    ]


def leaked_test_paths(table: pd.DataFrame) -> set[str]:
    """Paths of test files that have a byte-identical twin in train or validation."""
    return set(cross_split_duplicates(exact_duplicates(table))["path"])
