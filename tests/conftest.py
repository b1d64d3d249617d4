"""Shared fixtures: small generated casting_data trees, and the real set when present."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib.config import PROJECT_ROOT
from lib.part import RIM_PER_CAVITY
from lib.report import main as report_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REAL_DATA = Path(os.environ.get("CASTING_REAL_DATA", PROJECT_ROOT.parent / "shared/data/casting_data"))


def fake_part(rng: np.random.Generator, defect: bool, size: int = 64) -> np.ndarray:
    """A grey disc with a dark cavity on a darker bench; a defect adds a small dark hole on the flange."""
    image = np.full((size, size), 60, np.uint8)
    centre, radius = size // 2, size // 3
    cv2.circle(image, (centre, centre), radius, int(rng.integers(140, 180)), -1)
    cv2.circle(image, (centre, centre), round(radius / RIM_PER_CAVITY), 20, -1)
    if defect:
        angle, reach = rng.uniform(0, 2 * np.pi), 0.8 * radius
        x, y = centre + reach * np.cos(angle), centre + reach * np.sin(angle)
        cv2.circle(image, (round(x), round(y)), max(2, size // 20), 10, -1)
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_casting_tree(root: Path, per_class: dict[str, int], seed: int = 0, size: int = 64) -> Path:
    """Write root/{train,test}/{def_front,ok_front}/*.jpeg with per_class['train'|'test'] images each."""
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for class_name in ("def_front", "ok_front"):
            folder = root / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            prefix = "cast_def_0_" if class_name == "def_front" else "cast_ok_0_"
            for i in range(n):
                image = fake_part(rng, class_name == "def_front", size)
                cv2.imwrite(str(folder / f"{prefix}{i}.jpeg"), image)
    return root


@pytest.fixture
def casting_tree(tmp_path: Path) -> Path:
    """A small generated casting_data tree: 20 train and 6 test images per class."""
    return write_casting_tree(tmp_path / "casting_data", {"train": 20, "test": 6})


@pytest.fixture
def real_data() -> Path:
    """The real casting_data set, or a skip that says where it was looked for."""
    if not (REAL_DATA / "train" / "def_front").is_dir():
        pytest.skip(f"real casting_data not found at {REAL_DATA} (set CASTING_REAL_DATA)")
    return REAL_DATA


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A complete report run (every notebook, one epoch) on a small generated tree; its run folder."""
    root = tmp_path_factory.mktemp("smoke")
    tree = write_casting_tree(root / "casting_data", {"train": 20, "test": 6})
    params = root / "smoke.yaml"
    params.write_text(f"data_dir: {tree}\nsubset: 10\nimage_size: 32\nbatch_size: 8\nepochs: 1\n")
    assert report_main([str(params), "--outputs", str(root / "outputs")]) == 0
    return (root / "outputs" / "latest").resolve()
