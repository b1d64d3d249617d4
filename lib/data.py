"""Find, scan, check, decode and batch the casting image set."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV_VAR = "CASTING_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "casting_data"
SPLITS = ("train", "test")
CLASSES = {"def_front": 1, "ok_front": 0}  # defect is the positive class
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
GET_DATA_HINT = (
    "Get the Kaggle data set ravirajsinh45/real-life-industrial-dataset-of-casting-product "
    "and put its casting_data folder (train/ and test/, each with def_front/ and ok_front/) at "
    f"{DEFAULT_DATA_DIR}, or set {DATA_ENV_VAR}, or pass data_dir; `make data` does this for you."
)


class DataError(Exception):
    """Bad or missing input data; the message names the path and the fix."""


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the data root: the argument, else $CASTING_DATA_DIR, else data/casting_data."""
    chosen = data_dir or os.environ.get(DATA_ENV_VAR) or DEFAULT_DATA_DIR
    root = Path(chosen).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}. {GET_DATA_HINT}")
    return root.resolve()


def scan_dataset(root: str | os.PathLike, splits: Sequence[str] = SPLITS) -> pd.DataFrame:
    """Table of every image under root/<split>/<class>: path, split, class_name, label."""
    root = Path(root)
    rows, skipped = [], []
    for split in splits:
        for class_name, label in CLASSES.items():
            folder = root / split / class_name
            if not folder.is_dir():
                raise DataError(f"missing folder: {folder}. {GET_DATA_HINT}")
            files = sorted(p for p in folder.iterdir() if p.is_file())
            images = [p for p in files if _looks_like_image(p)]
            skipped += [p for p in files if not _looks_like_image(p)]
            if not images:
                raise DataError(f"no images in {folder}: put the {class_name} JPEGs there.")
            rows += [(str(p), split, class_name, label) for p in images]
    if skipped:
        _warn_skipped([(p, "not an image file") for p in skipped])
    table = pd.DataFrame(rows, columns=["path", "split", "class_name", "label"])
    return table.sort_values(["split", "class_name", "path"], ignore_index=True)


def split_train_val(table: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Relabel a seeded, stratified val_fraction of the train rows as split 'val'."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    train = table[table["split"] == "train"]
    _, val_index = train_test_split(
        train.index, test_size=val_fraction, random_state=seed, stratify=train["label"]
    )
    out = table.copy()
    out.loc[val_index, "split"] = "val"
    return out


def take_subset(table: pd.DataFrame, per_class: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of at most per_class images for each split and class (0 keeps all)."""
    if per_class <= 0:
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    sample = shuffled.groupby(["split", "class_name"]).head(per_class)
    return sample.sort_values(["split", "class_name", "path"], ignore_index=True)


def load_table(
    data_dir: str | os.PathLike | None = None, val_fraction: float = 0.2, seed: int = 0,
    subset: int = 0, split: str = "published", test_fraction: float = 0.1, near_twin_cutoff: float = 0.6,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Find, scan, optionally subset, and split the data: one row per image, split train/val/test.

    split 'published' keeps the data set's test folder and holds out val_fraction of train;
    'grouped' re-splits all images so that near-twin groups (lib/near_duplicates.py) never straddle
    train, val and test, with test_fraction of all images as test and val_fraction of the rest as val;
    the near-twin pairs are computed once and kept in cache_dir (default outputs/cache).
    """
    table = take_subset(scan_dataset(find_data_dir(data_dir)), subset, seed)
    if split == "published":
        return split_train_val(table, val_fraction, seed)
    if split == "grouped":
        from lib import near_duplicates

        groups = near_duplicates.flag_near_twins(table, near_twin_cutoff, cache_dir)["twin_group"]
        regrouped = near_duplicates.grouped_split(table, groups, test_fraction, val_fraction, seed)
        return near_duplicates.with_twin_flags(regrouped, groups)
    raise ValueError(f"unknown split '{split}'; choose 'published' or 'grouped'")


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode any JPEG/PNG/BMP (8/16-bit, gray/RGB/RGBA) as 8-bit grayscale; DataError naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    if not raw:
        raise DataError(f"empty file (0 bytes): {path}. Remove it or replace it with the photo.")
    if raw[:2] == b"\xff\xd8" and not raw.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise DataError(f"truncated JPEG: {path}. Copy the file again from its source.")
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"not a readable image: {path}. Remove it or replace it with the photo.")
    return image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a grayscale image to size x size (area averaging); unchanged if already that size."""
    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def read_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """Decode a file as 8-bit grayscale resized to size x size; DataError naming it if unreadable."""
    return resize_image(decode_image(path), size)


def load_images(
    table: pd.DataFrame, size: int, on_error: str = "skip"
) -> tuple[np.ndarray, pd.DataFrame]:
    """Decode every row's image in parallel; bad files are skipped with a warning (or raise)."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = list(pool.map(lambda p: try_read_image(p, size), table["path"]))
    problems = [(path, err) for path, (_, _, err) in zip(table["path"], results) if err]
    if problems and on_error == "raise":
        raise DataError("; ".join(err for _, err in problems))
    if problems:
        _warn_skipped(problems)
    ok = np.array([not err for _, _, err in results], dtype=bool)
    images = np.stack([img for img, _, err in results if not err]) if ok.any() else np.zeros(
        (0, size, size), np.uint8
    )
    return images, table[ok].reset_index(drop=True)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment=None,
):
    """tf.data pipeline: (N,H,W) uint8 -> cached [0,1] float batches (N,H,W,1), optional augment."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels.astype("float32")))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def check_dataset(root: str | os.PathLike, size: int = 64) -> pd.DataFrame:
    """Scan and decode every image under root; return the per-split, per-class counts."""
    table = scan_dataset(root)
    _, good = load_images(table, size)
    return good.groupby(["split", "class_name"]).size().unstack("class_name")


def _looks_like_image(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def try_read_image(path: str, size: int) -> tuple[np.ndarray | None, str, str]:
    """(image at size x size, note, '') for a readable file, (None, '', error naming it) otherwise."""
    try:
        image = decode_image(path)
    except DataError as err:
        return None, "", str(err)
    note = "" if image.shape == (size, size) else f"resized from {image.shape[1]}x{image.shape[0]}"
    return resize_image(image, size), note, ""


def _warn_skipped(problems: list[tuple[object, str]]) -> None:
    for path, reason in problems:
        message = reason if str(path) in reason else f"{reason}: {path}"
        warnings.warn(f"skipped {message}", stacklevel=3)
