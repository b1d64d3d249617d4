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
import simplejpeg
from PIL import Image

from lib.config import DATA_ENV_VAR, DEFAULT_DATA_DIR, KAGGLE_DATASET
from lib.part import STAGES, Circle, find_part, part_input_and_circle
from lib.progress import track

SPLITS = ("train", "test")
CLASSES = {"def_front": 1, "ok_front": 0}  # defect is the positive class
SKIPPED_IMAGES = "skipped_images.csv"  # a run folder's list of the data set's unreadable images
PART_NOT_FOUND = "part not found"  # the note of a photo the part stage finds no part in
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
MIN_PHOTO_PX = 32  # a photo smaller than this a side is refused, never scored
ODD_ASPECT = 1.2  # a photo whose long side exceeds its short side by more than this is noted
MULTI_FRAME_SUFFIXES = {".tif", ".tiff", ".gif"}  # formats that can hold several frames: the first is scored
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
    if raw[:2] == b"\xff\xd8":
        image = _decode_jpeg_strictly(raw, path)
    else:
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"not a readable image: {path}. Remove it or replace it with the photo.")
    if min(image.shape) < MIN_PHOTO_PX:
        raise DataError(f"too small to judge ({image.shape[1]}x{image.shape[0]} px; at least {MIN_PHOTO_PX} "
                        f"a side): {path}. Take the photo again at the camera's size.")
    return image


def _decode_jpeg_strictly(raw: bytes, path: Path) -> np.ndarray:
    """A JPEG as 8-bit grey; DataError naming the file for damaged data, which libjpeg would only warn of
    (and then decode as grey blocks that get a confident verdict)."""
    if not raw.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise DataError(f"truncated JPEG: {path}. Copy the file again from its source.")
    try:
        return simplejpeg.decode_jpeg(raw, colorspace="GRAY", strict=True)[..., 0]
    except ValueError as err:
        raise DataError(f"damaged JPEG data ({err}): {path}. Copy the file again from its source.") from None


def photo_notes(path: str | os.PathLike, image: np.ndarray, photo_size: Sequence[int] | None = None) -> str:
    """What is unusual about a readable photo: a size unlike the training photos' (width, height), an odd
    aspect ratio, several frames of which the first is scored; '' for an ordinary photo."""
    height, width = image.shape
    notes = []
    if photo_size is not None and (width, height) != tuple(photo_size):
        notes.append(f"resized from {width}x{height} (training photos {photo_size[0]}x{photo_size[1]})")
    if max(height, width) > ODD_ASPECT * min(height, width):
        notes.append(f"unusual aspect ratio {width}x{height}")
    if Path(path).suffix.lower() in MULTI_FRAME_SUFFIXES:
        with Image.open(path) as opened:
            if getattr(opened, "n_frames", 1) > 1:
                notes.append(f"first frame scored of {opened.n_frames}")
    return "; ".join(notes)


def photo_size(paths: Sequence[str]) -> tuple[int, int]:
    """The most common (width, height) among the first photos of a list: the size training photos have."""
    sizes = pd.Series([decode_image(p).shape[::-1] for p in list(paths)[:50]])
    return tuple(int(v) for v in sizes.mode().iloc[0])


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
        results = list(track(pool.map(lambda p: try_read_image(p, size, stage), table["path"]), len(table),
                             f"decoding photos ({stage} stage)", "image"))
    problems = [(path, err or f"{note}: {path}")
                for path, (image, note, err, *_) in zip(table["path"], results) if image is None]
    if problems and on_error == "raise":
        raise DataError("; ".join(err for _, err in problems))
    if problems:
        _warn_skipped(problems)
    ok = np.array([image is not None for image, *_ in results], dtype=bool)
    images = np.stack([img for img, *_ in results if img is not None]) if ok.any() else np.zeros(
        (0, size, size), np.uint8
    )
    return images, table[ok].reset_index(drop=True)


def unreadable_images(table: pd.DataFrame) -> pd.DataFrame:
    """Every row whose file cannot be decoded: its path and the reason (the error, naming the file)."""
    def reason(path: str) -> str:
        try:
            decode_image(path)
        except DataError as err:
            return str(err)
        return ""

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        found = table.assign(reason=list(pool.map(reason, table["path"])))
    return found.loc[found["reason"] != "", ["path", "reason"]].reset_index(drop=True)


def skipped_images(run_dir: str | os.PathLike, table: pd.DataFrame) -> pd.DataFrame:
    """The run's unreadable images, as the report runner listed them in SKIPPED_IMAGES (found and written
    there when the folder has none, as in JupyterLab)."""
    listed = Path(run_dir) / SKIPPED_IMAGES
    if listed.is_file():
        return pd.read_csv(listed, keep_default_na=False)
    found = unreadable_images(table)
    found.to_csv(listed, index=False)
    return found


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
    return network_input_and_circle(image, size, stage)[0]


def network_input_and_circle(image: np.ndarray, size: int, stage: str = "photo"
                             ) -> tuple[np.ndarray | None, Circle | None]:
    """network_input, and the circle the part stage found it by (None at the photo stage, or with no part)."""
    if stage == "photo":
        return resize_image(image, size), None
    if stage == "part":
        return part_input_and_circle(image, size)
    raise ValueError(f"unknown input_stage '{stage}'; choose one of {', '.join(STAGES)}")


def try_read_image(path: str, size: int, stage: str = "photo", photo_size: Sequence[int] | None = None
                   ) -> tuple[np.ndarray | None, str, str, np.ndarray | None, Circle | None]:
    """(network input, note, '', photo, circle) for a readable file (photo_notes: what is unusual about it,
    given the training photos' size; photo: the decoded grey photo; circle: the part as the part stage
    found it, else None); (None, 'part not found', '', photo, None) when the part stage finds no part;
    (None, '', error naming the file, None, None) for an unreadable one."""
    try:
        image = decode_image(path)
        note = photo_notes(path, image, photo_size)
    except (DataError, OSError) as err:
        return None, "", str(err) if isinstance(err, DataError) else f"cannot read {path}: {err}", None, None
    prepared, circle = network_input_and_circle(image, size, stage)
    if prepared is None:
        return None, "; ".join(filter(None, [PART_NOT_FOUND, note])), "", image, None
    return prepared, note, "", image, circle


def _warn_skipped(problems: list[tuple[object, str]]) -> None:
    for path, reason in problems:
        message = reason if str(path) in reason else f"{reason}: {path}"
        warnings.warn(f"skipped {message}", stacklevel=3)


def find_image_files(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[str]]:
    """Every file named, and every file below every folder named (recursively, sorted per folder; broken
    links included, so that they get an error row), and apart from them the dot-files found (.DS_Store
    and the like), which are skipped. FileNotFoundError naming a path that does not exist."""
    found, hidden = [], []
    for given in map(Path, paths):
        if given.is_dir():
            below = sorted(p for p in given.rglob("*") if p.is_file() or (p.is_symlink() and not p.exists()))
            hidden += [str(p) for p in below if p.name.startswith(".")]
            found += [str(p) for p in below if not p.name.startswith(".")]
        elif given.exists() or given.is_symlink():
            found.append(str(given))  # named on purpose: scored (or refused) like any other
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    return found, hidden


def part_circles(photos: Sequence[np.ndarray]) -> list[Circle | None]:
    """find_part for each grey photo, on every core."""
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(track(pool.map(find_part, photos), len(photos), "finding the parts", "photo"))


def load_photos_with_parts(table: pd.DataFrame, size: int) -> tuple[np.ndarray, list[Circle], pd.DataFrame]:
    """Every row's photo at size x size and its part's circle (for changes made to the photo before the
    stage); bad files and photos with no part found are skipped with a warning naming them, as in
    load_images."""
    photos, kept = load_images(table, size)
    circles = part_circles(photos)
    found = np.array([circle is not None for circle in circles], bool)
    if not found.all():
        _warn_skipped([(path, f"{PART_NOT_FOUND}: {path}") for path in kept["path"][~found]])
    return photos[found], [c for c in circles if c is not None], kept[found].reset_index(drop=True)


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
