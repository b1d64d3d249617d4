"""The part-centred input stage: find the impeller, centre and scale it, blank the bench, normalise its light.

The network should read the casting, not the bench or the lamp. So every photo, in training and in
scoring alike, goes through `part_input`: the outer rim is found (Hough circles on a 150 px copy,
about a millisecond), a square around it is cut out and scaled so the rim always has the same
radius, everything beyond a margin of MARGIN past the rim is set to one grey, and the pixels are
standardised by the mean and spread of the part inside its rim, so a brighter or dimmer lamp, a
flatter contrast or another bench gives the same input (as far as the rim is found in the same place).
A photo in which no part is found gets None: never a guess.
"""

from __future__ import annotations

import cv2
import numpy as np

FIND_PX = 150  # the finder works on a copy this many pixels a side (under 1 ms, within 1 px)
RIM_FRACTION = 0.46  # the radius kept (rim and margin) in the network's input, as a fraction of its side
MARGIN = 1.08  # kept around the rim, as a multiple of its radius: burrs and flash on the edge stay visible
MID_GREY, SPREAD = 128.0, 42.0  # the part's mean and standard deviation after normalising
STAGES = ("photo", "part")  # photo: the whole photo resized; part: part_input
VERSION = "rim-hough150-margin1.08-core"  # part of a recipe: change when part_input changes


Circle = tuple[float, float, float]  # centre x, centre y, radius, in the photo's pixels


def find_part(image: np.ndarray) -> Circle | None:
    """Centre and radius of the impeller's outer rim in a grey photo, or None when there is no part."""
    height, width = image.shape
    scale = min(1.0, FIND_PX / max(height, width))  # smaller photos are searched as they are
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    side = min(small.shape)
    found = cv2.HoughCircles(cv2.GaussianBlur(small, (0, 0), 1.5), cv2.HOUGH_GRADIENT, dp=1, minDist=side,
                             param1=60, param2=35, minRadius=int(0.3 * side), maxRadius=int(0.5 * side))
    if found is None:
        return None
    x, y, radius = found[0][0]
    return float(x / scale), float(y / scale), float(radius / scale)


def centre_part(image: np.ndarray, circle: Circle, size: int) -> np.ndarray:
    """The part cut out around its rim, scaled to size x size, bench blanked, light standardised (uint8)."""
    x, y, radius = circle
    half = radius * MARGIN / RIM_FRACTION / 2  # half the side of the square cut out
    pad = int(np.ceil(half)) + 2
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    top, left = round(y - half) + pad, round(x - half) + pad
    side = max(1, round(2 * half))
    crop = cv2.resize(padded[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
    inside, core = part_mask(size), part_mask(size, RIM_FRACTION / MARGIN)
    light = crop[core].astype(np.float32)  # the part itself, inside its rim: the bench has no say
    spread = max(float(light.std()), 1.0)
    out = np.full((size, size), MID_GREY, np.float32)
    out[inside] = MID_GREY + SPREAD * (crop[inside].astype(np.float32) - light.mean()) / spread
    return np.clip(out, 0, 255).astype(np.uint8)


def part_mask(size: int, fraction: float = RIM_FRACTION) -> np.ndarray:
    """True inside a centred disc of fraction x size (default: all the network sees of the part)."""
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    return (yy - centre) ** 2 + (xx - centre) ** 2 <= (fraction * size) ** 2


def part_input(image: np.ndarray, size: int) -> np.ndarray | None:
    """The network's input for one grey photo at the part stage, or None when no part is found."""
    circle = find_part(image)
    return None if circle is None else centre_part(image, circle, size)
