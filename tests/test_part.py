"""The part-centred input stage: finds a disc where it is, refuses a photo with no part, and takes the
lamp, the contrast and the bench out of what the network sees."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib import part
from lib.data import network_input


def impeller(size: int = 300, centre: tuple[int, int] = (150, 150), radius: int = 125, bench: int = 90,
             seed: int = 0) -> np.ndarray:
    """A bright disc with a dark cavity (in the real part's proportions) and a textured surface on a grainy
    bench."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(bench, 6, (size, size)), 0, 255).astype(np.uint8)
    surface = np.clip(cv2.GaussianBlur(rng.normal(170, 30, (size, size)), (0, 0), 2), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, centre, radius, 255, -1)
    image[mask > 0] = surface[mask > 0]
    cv2.circle(image, centre, round(radius / part.RIM_PER_CAVITY), 30, -1)  # the dark cavity
    cv2.circle(image, centre, radius // 5, 200, -1)  # the hub
    return image


@pytest.mark.parametrize("centre, radius", [((150, 150), 125), ((138, 160), 110), ((160, 145), 135)])
def test_a_disc_is_found_within_two_pixels(centre, radius):
    x, y, r = part.find_part(impeller(centre=centre, radius=radius))
    assert abs(x - centre[0]) <= 2 and abs(y - centre[1]) <= 2 and abs(r - radius) <= 2


@pytest.mark.parametrize("name, change", [
    ("gain 0.7", lambda p: p * 0.7),
    ("gain 1.3, highlights clipped", lambda p: p * 1.3),
    ("contrast 0.7", lambda p: p.mean() + (p - p.mean()) * 0.7),
    ("blur sigma 1.5", lambda p: cv2.GaussianBlur(p, (0, 0), 1.5)),
    ("sensor noise 5", lambda p: p + np.random.default_rng(1).normal(0, 5, p.shape)),
])
def test_the_found_circle_stays_within_half_a_pixel_under_light_contrast_blur_and_noise(name, change):
    photo = impeller(centre=(146, 155), radius=118)
    before = np.array(part.find_part(photo))
    after = np.array(part.find_part(np.clip(change(photo.astype(np.float32)), 0, 255).astype(np.uint8)))
    assert np.hypot(*(after[:2] - before[:2])) <= 0.5 and abs(after[2] / before[2] - 1) <= 0.01, name


def test_dark_shading_on_the_flange_that_touches_the_cavity_does_not_move_the_centre():
    photo = impeller(centre=(150, 150), radius=125)
    cavity = round(125 / part.RIM_PER_CAVITY)
    cv2.ellipse(photo, (150, 150), (cavity + 25, cavity + 25), 0, -60, 40, 30, 12)  # a shadowed arc
    cv2.line(photo, (150 + cavity - 5, 150), (150 + cavity + 25, 150), 30, 8)  # joined to the cavity
    x, y, r = part.find_part(photo)
    assert abs(x - 150) <= 1.5 and abs(y - 150) <= 1.5 and abs(r - 125) <= 3


def test_a_part_near_the_edge_whose_shading_runs_off_the_frame_is_found():
    photo = impeller(centre=(172, 166), radius=120)
    cavity = round(120 / part.RIM_PER_CAVITY)
    cv2.line(photo, (172 + cavity - 5, 166), (299, 166), 30, 14)  # a shadow from the cavity off the frame
    x, y, r = part.find_part(photo)
    assert abs(x - 172) <= 2 and abs(y - 166) <= 2 and abs(r - 120) <= 3


@pytest.mark.parametrize("bench", [20, 235], ids=["black bench", "white bench"])
def test_a_part_on_a_bench_darker_or_brighter_than_itself_is_found(bench):
    x, y, r = part.find_part(impeller(centre=(155, 145), radius=120, bench=bench))
    assert abs(x - 155) <= 2 and abs(y - 145) <= 2 and abs(r - 120) <= 2


@pytest.mark.parametrize("blank", [np.full((300, 300), 120, np.uint8),
                                   np.random.default_rng(0).integers(0, 256, (300, 300)).astype(np.uint8)],
                         ids=["flat grey", "noise"])
def test_a_photo_without_a_part_is_not_found(blank):
    assert part.find_part(blank) is None
    assert network_input(blank, 64, "part") is None


def test_the_input_is_centred_and_the_same_wherever_the_part_sits_and_however_far_away():
    here = network_input(impeller(centre=(150, 150), radius=125), 64, "part")
    there = network_input(impeller(centre=(135, 162), radius=112), 64, "part")
    assert here.shape == (64, 64) and here.dtype == np.uint8
    assert np.abs(here.astype(int) - there.astype(int)).mean() < 8  # the surface texture differs a little
    photos = [network_input(impeller(centre=c, radius=r), 64, "photo").astype(int)
              for c, r in (((150, 150), 125), ((135, 162), 112))]
    assert np.abs(photos[0] - photos[1]).mean() > 15  # uncentred, the same change moves everything


def test_a_brighter_or_dimmer_lamp_or_flatter_contrast_barely_changes_the_input():
    photo = impeller()
    base = network_input(photo, 64, "part").astype(int)
    for changed in (photo * 0.7, photo.mean() + (photo - photo.mean()) * 0.7):
        again = network_input(changed.astype(np.uint8), 64, "part").astype(int)
        assert np.abs(again - base).mean() < 4  # the rim found may move by a pixel
    brighter = network_input(np.clip(photo * 1.3, 0, 255).astype(np.uint8), 64, "part").astype(int)
    assert np.abs(brighter - base).mean() < 5  # a little more: the brightest pixels clip at 255
    resized = network_input(photo, 64, "photo").astype(int)
    lamp = network_input(np.clip(photo * 1.3, 0, 255).astype(np.uint8), 64, "photo")
    assert np.abs(lamp - resized).mean() > 20


def test_repainting_the_bench_leaves_the_part_as_the_network_sees_it():
    dark, light = (network_input(impeller(bench=b, seed=1), 64, "part") for b in (40, 110))
    outside = ~part.part_mask(64)
    assert (dark[outside] == 128).all() and (light[outside] == 128).all()  # one grey beyond the margin
    rim = part.part_mask(64, part.RIM_FRACTION / part.MARGIN)
    assert np.abs(dark.astype(int) - light.astype(int))[rim].mean() < 3  # the part itself: the same


def test_an_unknown_stage_is_named():
    with pytest.raises(ValueError, match="unknown input_stage 'crop'"):
        network_input(impeller(), 64, "crop")


@pytest.mark.parametrize("seed", range(5))
def test_the_histogram_percentiles_equal_numpys_to_the_last_bit(seed):
    rng = np.random.default_rng(seed)
    image = (rng.integers(0, 256, (41, 57)) // rng.integers(1, 9)).astype(np.uint8)  # few levels too: ties
    mask = (rng.random(image.shape) < rng.uniform(0.05, 1)).astype(np.uint8)
    qs = (0, 3, 10, 50, 60, 97.5, 100)
    found = part.percentiles(image, mask, qs)
    assert found.tolist() == np.percentile(image[mask > 0], qs).tolist()
    assert found.dtype == np.float64  # as numpy's: what they are added to promotes alike


@pytest.mark.parametrize("seed", range(3))
def test_the_finders_dark_pixels_are_those_below_its_level_whole_or_not(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (150, 150)).astype(np.uint8)
    for level in [*rng.uniform(0, 256, 20), 0.0, 1.0, 127.5, 128.0, 255.0, 255.5, 256.0]:
        dark = part.darker_than(image, float(level))
        assert dark.dtype == np.uint8 and (dark == (image < level)).all(), level


def test_a_part_cut_off_by_the_frame_is_cut_out_as_the_padded_photo_would_give():
    """The cut-out as centre_part made it before it was sped up, step by step, to the last bit."""
    photo = impeller(centre=(120, 175), radius=125)
    x, y, radius = circle = (120.4, 175.6, 125.2)
    half = radius * part.MARGIN / part.RIM_FRACTION / 2
    pad = int(np.ceil(half)) + 2
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    top, left, side = round(y - half) + pad, round(x - half) + pad, round(2 * half)
    crop = cv2.resize(padded[top:top + side, left:left + side], (64, 64), interpolation=cv2.INTER_AREA)
    core = part.part_mask(64, part.RIM_FRACTION / part.MARGIN)
    dark, bright = np.percentile(crop[core], part.LIGHT_PERCENTILES)
    expected = np.full((64, 64), part.MID_GREY, np.float32)
    inside = part.part_mask(64)
    gain = (part.LIGHT_LEVELS[1] - part.LIGHT_LEVELS[0]) / max(float(bright - dark), 1.0)
    expected[inside] = part.LIGHT_LEVELS[0] + gain * (crop[inside].astype(np.float32) - dark)
    assert np.array_equal(part.centre_part(photo, circle, 64), np.clip(expected, 0, 255).astype(np.uint8))
