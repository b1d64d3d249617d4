"""Shop-floor changes do what they say, and the bench check finds a planted give-away."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lib import robustness
from tests.conftest import fake_part


@pytest.mark.parametrize("name", sorted(robustness.PERTURBATIONS))
def test_each_change_keeps_size_and_type_and_changes_the_image(name):
    image = fake_part(np.random.default_rng(0), True, 64)
    strength = robustness.PERTURBATIONS[name][1][-1]
    changed = robustness.perturb(image, name, strength)
    assert changed.shape == image.shape and changed.dtype == np.uint8
    assert not np.array_equal(changed, image)


def test_darker_is_darker_and_unknown_change_is_named():
    image = fake_part(np.random.default_rng(0), False, 64)
    assert robustness.perturb(image, "darker", 0.4).mean() < image.mean()
    with pytest.raises(ValueError, match="unknown change 'fog'"):
        robustness.perturb(image, "fog", 1)


def test_background_check_finds_a_bench_that_gives_the_class_away():
    rng = np.random.default_rng(0)
    labels = np.arange(80) % 2
    images = np.stack([fake_part(rng, bool(y), 64) for y in labels])
    fair = robustness.background_predicts_class(images, labels)
    images[labels == 1] = np.where(robustness.background_mask(64), 120, images[labels == 1])
    leaky = robustness.background_predicts_class(images, labels)
    assert leaky["background accuracy"] > 0.95
    assert fair["background accuracy"] < leaky["background accuracy"]


def test_table_counts_the_verdicts_each_change_flips_per_threshold():
    rng = np.random.default_rng(0)
    labels = np.arange(6) % 2
    photos = np.stack([fake_part(rng, bool(y), 64) for y in labels])
    brightest = max(cv2.resize(p, (32, 32), interpolation=cv2.INTER_AREA).mean() for p in photos)
    sizes = set()

    def lamp_reader(images: np.ndarray) -> np.ndarray:  # calls a part defective when it is brighter
        sizes.add(images.shape[1:])
        return (images.reshape(len(images), -1).mean(axis=1) > brightest + 1).astype(float)

    table = robustness.robustness_table(lamp_reader, 32, photos, labels, {"0.5": 0.5, "low": 0.0}).set_index(
        ["change", "strength"])
    assert sizes == {(32, 32)}
    expected = 1 + sum(len(s) for _, s, _ in robustness.PERTURBATIONS.values())
    assert len(table) == expected and table.index[0] == ("none", 0.0)
    assert table.loc[("none", 0.0), ["FN at 0.5", "FP at 0.5"]].tolist() == [3, 0]
    for strength in (0.2, 0.4):  # brighter light: every good part called defective, no defect missed
        assert table.loc[("brighter", strength), ["FN at 0.5", "FP at 0.5"]].tolist() == [0, 3]
        assert table.loc[("darker", strength), "accuracy at 0.5"] == 0.5
    assert (table["FP at low"] == 3).all() and (table["FN at low"] == 0).all()  # threshold 0 flags all


def test_the_line_ships_only_defects_below_the_review_band_and_sends_photos_without_a_part_to_a_person():
    labels = np.array([1, 1, 1, 0, 0, 0, 1])
    scores = np.array([0.05, 0.3, 0.95, 0.05, 0.6, 0.95, np.nan])  # the last: no part found
    point = {"threshold": 0.5, "review_low": 0.1, "review_high": 0.9}
    assert robustness.line_counts(labels, scores, point) == {
        "shipped by the line": 1, "scrapped by the line": 1, "sent to review": 3}
    no_band = {**point, "review_low": 0.5, "review_high": 0.5}  # the threshold alone decides
    assert robustness.line_counts(labels, scores, no_band) == {
        "shipped by the line": 2, "scrapped by the line": 2, "sent to review": 1}


def test_table_counts_what_the_line_would_do_under_each_change_given_an_operating_point():
    rng = np.random.default_rng(0)
    labels = np.arange(6) % 2
    photos = np.stack([fake_part(rng, bool(y), 64) for y in labels])
    brightest = max(cv2.resize(p, (32, 32), interpolation=cv2.INTER_AREA).mean() for p in photos)

    def lamp_reader(images: np.ndarray) -> np.ndarray:  # sure a part is defective when it is brighter
        return (images.reshape(len(images), -1).mean(axis=1) > brightest + 1).astype(float)

    point = {"threshold": 0.5, "review_low": 0.2, "review_high": 0.8}
    table = robustness.robustness_table(lamp_reader, 32, photos, labels, {"0.5": 0.5}, point=point).set_index(
        ["change", "strength"])
    assert table.loc[("none", 0.0), robustness.LINE_COLUMNS].tolist() == [3, 0, 0]  # every defect shipped
    assert table.loc[("brighter", 0.4), robustness.LINE_COLUMNS].tolist() == [0, 3, 0]  # every good scrapped
    plain = robustness.robustness_table(lamp_reader, 32, photos, labels, {"0.5": 0.5})
    assert not set(robustness.LINE_COLUMNS) & set(plain.columns)  # no operating point, no line columns
