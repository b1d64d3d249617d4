"""The part-centred input stage: find the impeller, centre and scale it, blank the bench, normalise its light.

The network should read the casting, not the bench or the lamp. So every photo, in training and in
scoring alike, goes through `part_input`: the part is found by its dark central cavity (on a 150 px
copy, about a millisecond; the rim is RIM_PER_CAVITY times the cavity's radius), a square around it is
cut out and scaled so the rim always has the same radius, everything beyond a margin of MARGIN past
the rim is set to one grey, and the light is set from the part inside its rim (two low percentiles
mapped to fixed levels), so a brighter or dimmer lamp, a flatter contrast or another bench gives the
same input. A photo in which no part is found gets None: never a guess."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

FIND_PX = 150  # the finder works on a copy this many pixels a side (under 1 ms)
RIM_PER_CAVITY = 1.79  # outer rim radius / dark cavity radius: median of 400 real photos (5-95%: 1.769-1.815)
CAVITY_RADIUS = (0.12, 0.32)  # the cavity's radius, as a fraction of the photo's side, in a photo of a part
CORE = 0.35  # the cavity's darkness and the part's brightness are read in a centred disc of this x the side
MIN_CONTRAST = 10.0  # grey levels between the two: a flat photo has no part
HUB = 0.2  # a bright hole in the cavity of less than a disc of this x the side is the hub, filled in
TRIM = (1.15, 1.08)  # the cavity is measured inside a disc of these multiples of its radius, in turn
ROUND = 0.9  # the cavity fills at least this much of the disc of its own area (noise and shadows do not)
RIM_FRACTION = 0.46  # the radius kept (rim and margin) in the network's input, as a fraction of its side
MARGIN = 1.08  # kept around the rim, as a multiple of its radius: burrs and flash on the edge stay visible
MID_GREY = 128.0  # the grey beyond the margin
LIGHT_PERCENTILES = (10, 60)  # of the part inside its rim, set to LIGHT_LEVELS: the light standardised
LIGHT_LEVELS = (64.0, 160.0)
STAGES = ("photo", "part")  # photo: the whole photo resized; part: part_input
VERSION = "cavity150-rim1.79-margin1.08-p10p60"  # part of a recipe: change when part_input changes


Circle = tuple[float, float, float]  # centre x, centre y, radius, in the photo's pixels


def find_part(image: np.ndarray) -> Circle | None:
    """Centre and radius of the impeller's outer rim in a grey photo, or None when there is no part.

    The rim itself is a poor landmark (the bench can be as bright as the flange, and Hough circles on it
    moved by 5 px under a mere change of light); the dark cavity in the middle is a sharp one. Its outline
    is cut at half-way between its own darkness and the part's brightness (so any gain or contrast cuts it
    in the same place), and its area and centroid give the centre and, times RIM_PER_CAVITY, the rim.
    """
    height, width = image.shape
    scale = min(1.0, FIND_PX / max(height, width))  # smaller photos are searched as they are
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    side = min(small.shape)
    dark_level, part_level = percentiles(small, _centred_disc_u8(small.shape, CORE * side), (3, 60))
    if part_level - dark_level < MIN_CONTRAST:
        return None
    dark = darker_than(small, (dark_level + part_level) / 2)
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, _disc(side / 30))  # speckle gone
    blob = _central_dark_blob(dark, 2 * CAVITY_RADIUS[0] * side, np.pi * (HUB * side) ** 2)
    areas = (np.pi * (f * side) ** 2 for f in CAVITY_RADIUS)
    cavity = None if blob is None else _measure_cavity(*blob, small.shape, *areas)
    if cavity is None:
        return None
    x, y, radius = cavity
    return float(x / scale), float(y / scale), float(radius * RIM_PER_CAVITY / scale)


def darker_than(image: np.ndarray, level: float) -> np.ndarray:
    """1 where a uint8 image is below level, else 0: (image < level) as uint8, in OpenCV's one pass (grey
    levels are whole, so below level is at most ceil(level) - 1)."""
    return cv2.threshold(image, math.ceil(level) - 1, 1, cv2.THRESH_BINARY_INV)[1]


def _measure_cavity(blob: np.ndarray, left: int, top: int, shape: tuple[int, int], low: float, high: float
                    ) -> Circle | None:
    """Centroid and area-radius of the cavity in its blob (its bounding box, at left, top of an image of
    shape), flange shading that touches it cut away; None when its area is outside [low, high] or it is not
    round. Worked in the blob's box, to the same bits as in the whole image (outside the box is not dark)."""
    framed = cv2.copyMakeBorder(blob, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)  # the box's edge: not dark
    inside = cv2.distanceTransform(framed, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)  # the centre of the largest disc inside
    radius = float(inside[y, x])
    x, y = x + left, y + top
    for reach in TRIM:  # the blob within a little more than that disc: the cavity without what touches it
        moments = _disc_moments(blob, left, top, round(x), round(y), round(reach * radius))
        if moments["m00"] < low:
            return None
        x, y = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
        radius = float(np.sqrt(moments["m00"] / np.pi))
    disc = cv2.circle(np.zeros(shape, np.uint8), (round(x), round(y)), round(radius), 1, -1)
    box = disc[top:top + blob.shape[0], left:left + blob.shape[1]]
    round_enough = cv2.countNonZero(blob & box) >= ROUND * cv2.countNonZero(disc)
    if np.pi * radius ** 2 > high or not round_enough:
        return None
    return x, y, radius


def _disc_moments(blob: np.ndarray, left: int, top: int, x: int, y: int, radius: int) -> dict[str, float]:
    """m00, m10 and m01, in the image's coordinates, of the pixels of a blob (its box at left, top) within
    a disc, counted where the disc's box meets the blob's (exact: binary moments are whole numbers)."""
    x0, y0 = max(x - radius - 1, left), max(y - radius - 1, top)  # the disc's box, in the image
    part = blob[y0 - top:max(y + radius + 2 - top, 0), x0 - left:max(x + radius + 2 - left, 0)]
    if not part.size:
        return {"m00": 0.0, "m10": 0.0, "m01": 0.0}
    kept = part * cv2.circle(np.zeros_like(part), (x - x0, y - y0), radius, 1, -1)
    moments = cv2.moments(kept, True)
    return {"m00": moments["m00"], "m10": moments["m10"] + x0 * moments["m00"],
            "m01": moments["m01"] + y0 * moments["m00"]}


def _central_dark_blob(dark: np.ndarray, least: float, hole: float) -> tuple[np.ndarray, int, int] | None:
    """The cavity candidate: of the dark regions at least least pixels across, the smallest whose outline
    holds the middle (a dark bench around the part holds it too, but is larger), else the one nearest the
    middle; its holes of less than hole pixels (the hub) filled in. Its bounding box (0 and 1) and the box's
    left and top, or None when there is none."""
    # BBDT: the labels, in their order, of the default (Spaghetti), in under half its time (stats kept)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(dark, 8, cv2.CV_32S, cv2.CCL_BBDT)
    middle = ((dark.shape[1] - 1) / 2, (dark.shape[0] - 1) / 2)
    best, rank = None, (np.inf, np.inf)
    for label in range(1, count):
        left, top, width, height = stats[label, :4]
        if max(width, height) < least:
            continue
        region = (labels[top:top + height, left:left + width] == label).view(np.uint8)  # its box only
        contours, hierarchy = cv2.findContours(region, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
        outline = max((c for c, h in zip(contours, hierarchy[0]) if h[3] < 0), key=cv2.contourArea)
        off = max(0.0, -cv2.pointPolygonTest(outline, (middle[0] - left, middle[1] - top), True))  # 0 inside
        area = cv2.contourArea(outline)
        if (off, area) < rank:
            best, rank = (region, int(left), int(top), contours, hierarchy[0]), (off, area)
    if best is None:
        return None
    region, left, top, contours, hierarchy = best
    small_holes = [c for c, h in zip(contours, hierarchy) if h[3] >= 0 and cv2.contourArea(c) < hole]
    return cv2.drawContours(region, small_holes, -1, 1, -1), left, top


def _disc(diameter: float) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, round(diameter) | 1),) * 2)


@functools.lru_cache(maxsize=64)
def _centred_disc(shape: tuple[int, int], radius: float) -> np.ndarray:
    """True inside a centred disc (made once per shape and radius, read-only)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    disc = (yy - (shape[0] - 1) / 2) ** 2 + (xx - (shape[1] - 1) / 2) ** 2 <= radius ** 2
    disc.flags.writeable = False
    return disc


@functools.lru_cache(maxsize=64)
def _centred_disc_u8(shape: tuple[int, int], radius: float) -> np.ndarray:
    """_centred_disc as an OpenCV mask (1 inside, 0 outside)."""
    return _centred_disc(shape, radius).astype(np.uint8)


def percentiles(image: np.ndarray, mask: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """np.percentile(image[mask > 0], qs) of a uint8 image, to the last bit (its linear method), from a
    histogram: some ten times faster. The interpolation is numpy's own, done in Python's floats (the same
    float64 operations) on the few ranks searched, which is cheaper than numpy's calls on arrays of two."""
    counts = cv2.calcHist([image], [0], mask, [256], [0, 256])
    ranks = np.cumsum(counts.ravel().astype(np.int64))
    last = int(ranks[-1]) - 1
    virtual = [last * (q / 100) for q in qs]
    below = [math.floor(v) for v in virtual]
    found = np.searchsorted(ranks, [i for b in below for i in (b, min(b + 1, last))], side="right").tolist()
    levels = []
    for v, b, low, high in zip(virtual, below, found[::2], found[1::2]):
        gamma, step = v - b, float(high - low)
        levels.append(high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma)
    return np.array(levels, np.float64)


def centre_part(image: np.ndarray, circle: Circle, size: int) -> np.ndarray:
    """The part cut out around its rim, scaled to size x size, bench blanked, light standardised (uint8)."""
    x, y, radius = circle
    half = radius * MARGIN / RIM_FRACTION / 2  # half the side of the square cut out
    top, left, side = round(y - half), round(x - half), max(1, round(2 * half))
    crop = cv2.resize(_cut(image, top, left, side), (size, size), interpolation=cv2.INTER_AREA)
    inside, core = part_mask(size), _centred_disc_u8((size, size), RIM_FRACTION / MARGIN * size)
    # the part itself, inside its rim, sets the light (the bench has no say); by low percentiles, which an
    # overexposed lamp leaves in place while it clips the bright faces (a mean and sd move with them)
    dark, bright = percentiles(crop, core, LIGHT_PERCENTILES)
    out = cv2.LUT(crop, light_table(dark, bright))
    out[~inside] = MID_GREY
    return out


def light_table(dark: float, bright: float) -> np.ndarray:
    """The 256 grey levels of a cut-out mapped so that dark and bright go to LIGHT_LEVELS (clipped, uint8)."""
    gain = (LIGHT_LEVELS[1] - LIGHT_LEVELS[0]) / max(float(bright - dark), 1.0)
    levels = np.arange(256, dtype=np.float32)
    return np.clip((LIGHT_LEVELS[0] + gain * (levels - dark)).astype(np.float32), 0, 255).astype(np.uint8)


def _cut(image: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """The side x side square of image at (top, left), edge pixels repeated where it reaches outside."""
    height, width = image.shape
    inner = image[max(top, 0):min(top + side, height), max(left, 0):min(left + side, width)]
    over = (max(-top, 0), max(top + side - height, 0), max(-left, 0), max(left + side - width, 0))
    return cv2.copyMakeBorder(inner, *over, cv2.BORDER_REPLICATE) if any(over) else inner


def part_mask(size: int, fraction: float = RIM_FRACTION) -> np.ndarray:
    """True inside a centred disc of fraction x size (default: all the network sees of the part)."""
    return _centred_disc((size, size), fraction * size)


def part_input(image: np.ndarray, size: int) -> np.ndarray | None:
    """The network's input for one grey photo at the part stage, or None when no part is found."""
    return part_input_and_circle(image, size)[0]


def part_input_and_circle(image: np.ndarray, size: int) -> tuple[np.ndarray | None, Circle | None]:
    """part_input, and the circle it was cut out by (both None when no part is found)."""
    circle = find_part(image)
    return (None, None) if circle is None else (centre_part(image, circle, size), circle)
