"""Find, scan, check and decode the casting image set (file I/O only: no splits, no TensorFlow)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lib.config import DATA_ENV_VAR, DEFAULT_DATA_DIR, KAGGLE_DATASET
from lib.part import STAGES, find_part, part_input

SPLITS = ("train", "test")
CLASSES = {"def_front": 1, "ok_front": 0}  # defect is the positive class
PART_NOT_FOUND = "part not found"  # the note of a photo the part stage finds no part in
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
GET_DATA_HINT = (
    f"Get the Kaggle data set {KAGGLE_DATASET} "
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
    table: pd.DataFrame, size: int, on_error: str = "skip", stage: str = "photo"
) -> tuple[np.ndarray, pd.DataFrame]:
    """Decode every row's image in parallel through the input stage; bad files (and photos with no part
    found) are skipped with a warning naming them (or raise)."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = list(pool.map(lambda p: try_read_image(p, size, stage), table["path"]))
    problems = [(path, err or f"{note}: {path}") for path, (image, note, err) in zip(table["path"], results)
                if image is None]
    if problems and on_error == "raise":
        raise DataError("; ".join(err for _, err in problems))
    if problems:
        _warn_skipped(problems)
    ok = np.array([image is not None for image, _, _ in results], dtype=bool)
    images = np.stack([img for img, _, _ in results if img is not None]) if ok.any() else np.zeros(
        (0, size, size), np.uint8
    )
    return images, table[ok].reset_index(drop=True)


def check_dataset(root: str | os.PathLike, size: int = 64) -> pd.DataFrame:
    """Scan and decode every image under root; return the per-split, per-class counts."""
    table = scan_dataset(root)
    _, good = load_images(table, size)
    return good.groupby(["split", "class_name"]).size().unstack("class_name")


def _looks_like_image(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def network_input(image: np.ndarray, size: int, stage: str = "photo") -> np.ndarray | None:
    """The network's size x size input for a grey photo: the photo resized, or the part-centred stage
    (lib/part.py; None when no part is found)."""
    if stage == "photo":
        return resize_image(image, size)
    if stage == "part":
        return part_input(image, size)
    raise ValueError(f"unknown input_stage '{stage}'; choose one of {', '.join(STAGES)}")


def try_read_image(path: str, size: int, stage: str = "photo") -> tuple[np.ndarray | None, str, str]:
    """(network input, note, '') for a readable file; (None, 'part not found', '') when the part stage
    finds no part; (None, '', error naming the file) for an unreadable one."""
    try:
        image = decode_image(path)
    except DataError as err:
        return None, "", str(err)
    note = "" if image.shape == (size, size) else f"resized from {image.shape[1]}x{image.shape[0]}"
    prepared = network_input(image, size, stage)
    return (prepared, note, "") if prepared is not None else (None, PART_NOT_FOUND, "")


def _warn_skipped(problems: list[tuple[object, str]]) -> None:
    for path, reason in problems:
        message = reason if str(path) in reason else f"{reason}: {path}"
        warnings.warn(f"skipped {message}", stacklevel=3)


def find_image_files(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Every file named, and every file below every folder named (recursively), sorted per folder."""
    found: list[str] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += sorted(str(p) for p in given.rglob("*") if p.is_file())
        elif given.exists():
            found.append(str(given))
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    return found


def find_parts(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the part finder's circle per photo (part_x, part_y, part_r; NaN where none is found)."""
    def one(path: str) -> tuple[float, float, float]:
        try:
            circle = find_part(decode_image(path))
        except DataError:
            circle = None
        return circle or (np.nan, np.nan, np.nan)

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        circles = np.array(list(pool.map(one, table["path"])), dtype=float).reshape(-1, 3)
    return table.assign(part_x=circles[:, 0], part_y=circles[:, 1], part_r=circles[:, 2])
