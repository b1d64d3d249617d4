"""Shop-floor changes to test photos (light, contrast, blur, noise, JPEG, shift, rotation); a bench check."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lib.data import network_input_and_circle
from lib.decision import review_band
from lib.drift import batch_warning, photo_drift
from lib.evaluate import threshold_metrics
from lib.part import RIM_FRACTION, part_mask
from lib.progress import track


def _affine(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    size = image.shape[1], image.shape[0]
    return cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)


def _jpeg(image: np.ndarray, quality: float) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    return _affine(image, cv2.getRotationMatrix2D(centre, degrees, 1.0))


def _shift(image: np.ndarray, fraction: float) -> np.ndarray:
    dx = fraction * image.shape[1]
    return _affine(image, np.float32([[1, 0, dx], [0, 1, dx]]))


def _clip(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0, 255).astype(np.uint8)


def _contrast(image: np.ndarray, fraction: float) -> np.ndarray:
    mean = image.mean()
    return _clip(mean + (image.astype(np.float32) - mean) * (1 - fraction))


# name -> (function(image, strength, rng), strengths, what a strength means)
PERTURBATIONS: dict[str, tuple[Callable, list[float], str]] = {
    "darker": (lambda im, s, rng: _clip(im * (1.0 - s)), [0.2, 0.4], "fraction of light removed"),
    "brighter": (lambda im, s, rng: _clip(im * (1.0 + s)), [0.2, 0.4], "fraction of light added"),
    "lower contrast": (lambda im, s, rng: _contrast(im, s), [0.3, 0.5], "fraction of contrast removed"),
    "blur": (lambda im, s, rng: cv2.GaussianBlur(im, (0, 0), s), [1.0, 2.0], "Gaussian sigma, px"),
    "sensor noise": (lambda im, s, rng: _clip(im + rng.normal(0.0, s, im.shape)), [5.0, 10.0],
                     "noise sd, grey levels"),
    "JPEG compression": (lambda im, s, rng: _jpeg(im, s), [30, 10], "JPEG quality"),
    "shift": (lambda im, s, rng: _shift(im, s), [0.03, 0.06], "fraction of the frame"),
    "rotation": (lambda im, s, rng: _rotate(im, s), [10.0, 45.0], "degrees"),
}


def perturb(image: np.ndarray, name: str, strength: float, seed: int = 0) -> np.ndarray:
    """One named shop-floor change applied to a full-size uint8 grayscale photo."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown change '{name}'; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name][0](image, strength, np.random.default_rng(seed))


def changed(photos: np.ndarray, name: str, strength: float, seed: int, pool: ThreadPoolExecutor,
            then: Callable[[np.ndarray], object]) -> list:
    """`then` of every photo under one change (photo i drawn with seed + i; 'none' leaves it), in the pool."""
    def one(item: tuple[int, np.ndarray]):
        i, image = item
        return then(image if name == "none" else perturb(image, name, strength, seed + i))

    return list(pool.map(one, enumerate(photos)))


def all_changes() -> list[tuple[str, float, str]]:
    """(change, strength, what a strength means) for no change, then every change at each strength."""
    return [("none", 0.0, "")] + [(name, strength, meaning)
                                  for name, (_, strengths, meaning) in PERTURBATIONS.items()
                                  for strength in strengths]


DRIFT_COLUMNS = ["photos", "photos drifted", "share drifted", "line warned", "most common reason"]
LINE_COLUMNS = ["shipped by the line", "scrapped by the line", "sent to review"]  # line_counts


def robustness_table(predict: Callable[[np.ndarray], np.ndarray], size: int, photos: np.ndarray,
                     labels: np.ndarray, thresholds: dict[str, float], seed: int = 0,
                     stage: str = "photo", drift_check: bool = False, reference: dict | None = None,
                     point: dict | None = None) -> pd.DataFrame:
    """Accuracy, missed defects and scrapped parts per change and strength (and none), per threshold; with
    drift_check, also how lib.inspect's drift check against the reference sees the changed photos
    (DRIFT_COLUMNS; nothing drifts without a reference), from the same changed photos and found parts; with
    an operating point, also what the line's verdicts would do (LINE_COLUMNS, line_counts).

    predict maps (N, size, size) uint8 images to N defect probabilities (scoring.fast_predictor). The
    changes and the input stage run on every core.
    """

    def score(prepared: list[tuple[np.ndarray | None, str]]) -> tuple[np.ndarray, list[str]]:
        inputs = [image for image, _ in prepared]
        found = np.array([image is not None for image in inputs])
        scores = np.full(len(inputs), np.nan)
        if found.any():
            scores[found] = predict(np.stack([image for image in inputs if image is not None]))
        return scores, [note for _, note in prepared]  # NaN: no part found

    def prepare(image: np.ndarray) -> tuple[np.ndarray | None, str]:
        prepared, circle = network_input_and_circle(image, size, stage)
        return prepared, photo_drift(image, circle, prepared, stage, reference) if drift_check else ""

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        rows = [(name, strength, meaning, *score(changed(photos, name, strength, seed, pool, prepare)))
                for name, strength, meaning in track(all_changes(), len(all_changes()),
                                                     "scoring changed photos", "change")]
    table = []
    for name, strength, meaning, scores, notes in rows:
        row = {"change": name, "strength": strength, "strength means": meaning}
        found = ~np.isnan(scores)
        if stage == "part":
            row["part not found"] = int((~found).sum())
        # a part not found is counted as a mistake: the wrong side of any threshold
        counted = np.where(found, scores, np.where(labels == 1, -1.0, 2.0))
        for label, threshold in thresholds.items():
            m = threshold_metrics(labels, counted, threshold)
            row |= {f"accuracy at {label}": m["accuracy"], f"FN at {label}": m["fn"],
                    f"FP at {label}": m["fp"]}
        if point is not None:
            row |= line_counts(labels, scores, point)
        if drift_check:
            row |= drift_summary(notes)
        table.append(row)
    return pd.DataFrame(table)


def line_counts(labels: np.ndarray, scores: np.ndarray, point: dict) -> dict[str, int]:
    """LINE_COLUMNS: the defects the line's verdicts would ship ('ok'), the good parts they would scrap
    ('defect') and the parts they would send to a person ('review': the review band, and every photo with no
    part found, as lib.inspect says), at an operating point's threshold and review band."""
    found = ~np.isnan(scores)
    band = review_band(np.asarray(labels)[found], scores[found], point["threshold"], point["review_low"],
                       point["review_high"])
    return {"shipped by the line": band["missed defects outside band"],
            "scrapped by the line": band["scrapped good parts outside band"],
            "sent to review": band["review"] + int((~found).sum())}


def drift_summary(notes: list[str]) -> dict:
    """DRIFT_COLUMNS for one change's photos, from their drift notes."""
    said = pd.Series(notes, dtype=str)
    reasons = said[said != ""].str.split("; ").explode()
    return {"photos": len(said), "photos drifted": int((said != "").sum()),
            "share drifted": float((said != "").mean()), "line warned": bool(batch_warning(notes)),
            "most common reason": reasons.mode().iloc[0] if len(reasons) else ""}


def background_mask(size: int, part_radius: float = RIM_FRACTION) -> np.ndarray:
    """True outside a centred disc of part_radius x size: the bench around the impeller (all the part
    stage paints grey)."""
    return ~part_mask(size, part_radius)


def background_features(images: np.ndarray, bins: int = 16) -> np.ndarray:
    """Per image: a normalised histogram, mean and sd of the background pixels only."""
    mask = background_mask(images.shape[1])
    rows = []
    for image in images:
        pixels = image[mask].astype(np.float32)
        hist = np.histogram(pixels, bins=bins, range=(0, 256))[0] / pixels.size
        rows.append(np.concatenate([hist, [pixels.mean() / 255, pixels.std() / 255]]))
    return np.array(rows)


def background_predicts_class(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """Cross-validated accuracy of a logistic regression on background pixels alone, and chance."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    scores = cross_val_score(model, background_features(images), labels, cv=5)
    chance = max(np.mean(labels), 1 - np.mean(labels))
    return {"background accuracy": float(scores.mean()), "background accuracy sd": float(scores.std()),
            "chance (majority class)": float(chance)}


def change_gallery(photo: np.ndarray, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """The photo unchanged and under each change at its strongest strength, with titles."""
    images, titles = [photo], ["unchanged"]
    for name, (_, strengths, meaning) in PERTURBATIONS.items():
        images.append(perturb(photo, name, strengths[-1], seed))
        titles.append(f"{name}\n{strengths[-1]:g} ({meaning})")
    return images, titles
