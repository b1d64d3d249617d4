"""Shop-floor changes do what they say, and the bench check finds a planted give-away."""

from __future__ import annotations

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


def test_table_has_a_row_per_change_and_strength_for_each_threshold():
    from lib.models import build_model

    rng = np.random.default_rng(0)
    labels = np.arange(6) % 2
    photos = np.stack([fake_part(rng, bool(y), 64) for y in labels])
    table = robustness.robustness_table(build_model("fast_cnn", 32), photos, labels,
                                        {"0.5": 0.5, "low": 0.01})
    expected = 1 + sum(len(s) for _, s, _ in robustness.PERTURBATIONS.values())
    assert len(table) == expected and table.change.iloc[0] == "none"
    for label in ("0.5", "low"):
        assert ((table[f"FN at {label}"] + table[f"FP at {label}"]) ==
                ((1 - table[f"accuracy at {label}"]) * 6).round().astype(int)).all()
