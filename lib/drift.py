"""Drift at the line: is a new photo like the training photos (light, contrast, sharpness, the part's place)?

Training saves, in the run folder, the range of a few measures of its photos (DRIFT_REFERENCE). At the line,
each photo is measured the same way and every measure outside the training range, widened by TOLERANCE of
its 1st-99th percentile spread, is named in the verdict's `drift` column. A batch in which more than
WARN_SHARE of the photos drifted ends with a warning: check the lamp and the camera first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lib.data import DataError, decode_image
from lib.part import (
    LIGHT_PERCENTILES,
    MARGIN,
    RIM_FRACTION,
    Circle,
    centre_part,
    find_part,
    part_mask,
    percentiles,
)
from lib.runs import write_whole

DRIFT_REFERENCE = "drift_reference.json"
TOLERANCE = 0.25  # the training range is widened by this share of its 1st-99th percentile spread, each side
WARN_SHARE = 0.05  # a batch with more drifted photos than this ends with a warning
MEASURE_PX = 256  # sharpness is read on the part cut out at this size where a reference does not say (before
# 2026-12-02); training now writes the network's input size (measure_px), so the line reuses the network's cut
# measure: (what a value below the training range means, what a value above it means)
MEASURES = {
    "light": ("light dimmer than any training photo", "light brighter than any training photo"),
    "contrast": ("contrast lower than any training photo", "contrast higher than any training photo"),
    "sharpness": ("photo blurrier than any training photo",
                  "photo noisier or sharper than any training photo"),
    "off_centre": ("", "part off-centre"),
    "part_size": ("part smaller in the frame than in any training photo",
                  "part larger in the frame than in any training photo"),
}


def photo_measures(image: np.ndarray, circle: Circle | None = None, measure_px: int = MEASURE_PX,
                   cut: np.ndarray | None = None) -> dict[str, float] | None:
    """The drift measures of one grey photo (MEASURES), or None when no part is found in it (circle: the
    part as already found in this photo, so that it is not looked for twice; cut: the part stage's input of
    this photo, reused for the sharpness when it is measure_px a side, so that it is not cut twice)."""
    circle = circle or find_part(image)
    if circle is None:
        return None
    x, y, radius = circle
    height, width = image.shape
    side = min(height, width)
    dark, bright = rim_percentiles(image, circle)
    if cut is None or cut.shape != (measure_px, measure_px):
        cut = centre_part(image, circle, measure_px)  # light standardised, size fixed
    edges = np.abs(cv2.Laplacian(cut.astype(np.float32), cv2.CV_32F))
    edges = edges[part_mask(measure_px, RIM_FRACTION / MARGIN)]
    return {"light": float(bright), "contrast": float(bright - dark), "sharpness": float(edges.mean()),
            "off_centre": float(np.hypot(x - (width - 1) / 2, y - (height - 1) / 2) / side),
            "part_size": float(radius / side)}


def rim_percentiles(image: np.ndarray, circle: Circle) -> tuple[float, float]:
    """LIGHT_PERCENTILES of a photo's pixels inside the part's rim ((0, 0) when none is in the photo), read in
    the rim's bounding box alone: the same pixels as a disc drawn on the whole photo, fewer to look at."""
    x, y, radius = round(circle[0]), round(circle[1]), max(1, round(circle[2]))
    top, left = max(y - radius, 0), max(x - radius, 0)
    box = image[top:max(y + radius + 1, 0), left:max(x + radius + 1, 0)]
    rim = cv2.circle(np.zeros_like(box), (x - left, y - top), radius, 1, -1) if box.size else box
    if not rim.any():
        return 0.0, 0.0
    dark, bright = percentiles(box, rim, LIGHT_PERCENTILES)
    return float(dark), float(bright)


def measure_files(paths: Sequence[str], measure_px: int = MEASURE_PX) -> pd.DataFrame:
    """One row of measures per readable photo with a part (path, then MEASURES), decoded in parallel."""
    def one(path: str) -> dict | None:
        try:
            measures = photo_measures(decode_image(path), measure_px=measure_px)
        except DataError:
            return None
        return None if measures is None else {"path": str(path), **measures}

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        rows = [row for row in pool.map(one, paths) if row is not None]
    return pd.DataFrame(rows, columns=["path", *MEASURES])


def training_reference(measures: pd.DataFrame, measure_px: int = MEASURE_PX) -> dict:
    """Per measure: the range of the training photos, its percentiles, and the range a photo may span; the
    size the sharpness was read at."""
    reference = {"photos": len(measures), "tolerance": TOLERANCE, "measure_px": measure_px, "measures": {}}
    for name in MEASURES if len(measures) else []:  # no training photo with a part found: nothing to check
        values = measures[name].to_numpy(float)
        p1, p50, p99 = np.percentile(values, [1, 50, 99])
        margin = TOLERANCE * (p99 - p1)
        allowed = [float(values.min() - margin), float(values.max() + margin)]
        reference["measures"][name] = {"min": float(values.min()), "p1": float(p1), "p50": float(p50),
                                       "p99": float(p99), "max": float(values.max()), "allowed": allowed}
    return reference


def drift_notes(measures: dict[str, float] | None, reference: dict | None) -> str:
    """What about one photo lies outside the training range, in words ('' when nothing, or no reference)."""
    if measures is None or reference is None or not reference["measures"]:
        return ""
    notes = []
    for name, (below, above) in MEASURES.items():
        low, high = reference["measures"][name]["allowed"]
        if measures[name] < low and below:
            notes.append(below)
        elif measures[name] > high:
            notes.append(above)
    return "; ".join(notes)


def photo_drift(photo: np.ndarray, circle: Circle | None, network_input: np.ndarray | None, stage: str,
                reference: dict | None) -> str:
    """drift_notes of one photo as lib.inspect says them ('' without a reference), the part stage's network
    input reused as the cut the sharpness is read on."""
    if not reference or network_input is None:
        return ""
    cut = network_input if stage == "part" else None
    return drift_notes(photo_measures(photo, circle, reference_px(reference), cut), reference)


def batch_warning(drift: Sequence[str]) -> str:
    """The warning for a batch with more than WARN_SHARE of its photos drifted, else ''."""
    drifted = sum(bool(d) for d in drift)
    if not drift or drifted <= WARN_SHARE * len(drift):
        return ""
    return (f"warning: {drifted} of {len(drift)} photos ({drifted / len(drift):.0%}) do not look like the "
            "training photos (the drift column says how): check the lamp and the camera before trusting "
            "the verdicts")


def reference_px(reference: dict) -> int:
    """The size a reference's sharpness was read at (MEASURE_PX for references that do not say)."""
    return int(reference.get("measure_px", MEASURE_PX))


def save_reference(run_dir: str | os.PathLike, paths: Sequence[str], measure_px: int) -> dict:
    """Measure the training photos (sharpness at measure_px: the network's input size, so the line reuses the
    part stage's cut) and write DRIFT_REFERENCE in the run folder; the reference."""
    reference = training_reference(measure_files(paths, measure_px), measure_px)
    write_whole(Path(run_dir) / DRIFT_REFERENCE, json.dumps(reference, indent=2))
    return reference


def load_reference(run_dir: str | os.PathLike) -> dict | None:
    """The run's DRIFT_REFERENCE, or None when training did not write one (older runs: no drift column)."""
    path = Path(run_dir) / DRIFT_REFERENCE
    if not path.is_file():
        return None
    try:
        reference = json.loads(path.read_text())
        missing = set(MEASURES) - set(reference["measures"]) if reference["photos"] else set()
    except (ValueError, KeyError, TypeError) as err:
        missing = {f"unreadable: {err}"}
    if missing:
        raise ValueError(f"{path} is damaged or old (missing {', '.join(sorted(missing))}); delete it and "
                         "run chapter 3 again to rewrite it")
    return reference
