"""Score image files with a trained model: batched decoding overlapped with prediction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from lib.data import try_read_image


def score_files(model: keras.Model, paths: Sequence[str], batch_size: int = 64,
                progress: bool = False) -> tuple[np.ndarray, list[str | None]]:
    """Defect probability per file (NaN where unreadable) and the error message per file (or None)."""
    size = int(model.input_shape[1])
    scores = np.full(len(paths), np.nan, np.float32)
    errors: list[str | None] = [None] * len(paths)
    batch, where = [], []
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        decoded = pool.map(lambda p: try_read_image(p, size), paths)
        if progress:
            from tqdm.auto import tqdm

            decoded = tqdm(decoded, total=len(paths), unit="image")
        for i, (image, error) in enumerate(decoded):
            if error:
                errors[i] = error
                continue
            batch.append(image)
            where.append(i)
            if len(batch) == batch_size or (i == len(paths) - 1):
                scores[where] = _predict(model, batch)
                batch, where = [], []
    if batch:
        scores[where] = _predict(model, batch)
    return scores, errors


def _predict(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    x = np.stack(images)[..., None].astype(np.float32) / 255.0
    return np.asarray(model.predict_on_batch(x)).reshape(-1)
