"""Each augmentation does what its name says, off means untouched, and one seed gives one output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow as tf

from lib import augment
from lib.data import part_circles, scan_dataset
from lib.part import find_part
from lib.train import camera_dataset, training_dataset
from tests.conftest import fake_part, write_casting_tree

SIZE = 24


def _batch(n: int = 16) -> np.ndarray:
    """n copies of one asymmetric [0, 1] image: a bright corner block and a ramp, so every turn shows."""
    image = np.tile(np.linspace(0.25, 0.6, SIZE, dtype=np.float32), (SIZE, 1))
    image[2:8, 3:12] = 0.75
    return np.repeat(image[None, ..., None], n, axis=0)


def _apply(config: dict, seed: int = 0, batch: np.ndarray | None = None) -> np.ndarray:
    return np.asarray(augment.build_augmentation(config, seed)(_batch() if batch is None else batch,
                                                               training=True))


def test_everything_off_builds_no_augmentation():
    assert augment.build_augmentation({}) is None
    assert augment.build_augmentation(dict(augment.OFF)) is None


def test_an_unknown_augmentation_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown augmentation \['sharpen'\]; known: rotation"):
        augment.build_augmentation({"sharpen": 0.2})


@pytest.mark.parametrize("name, transform", [
    ("horizontal_flip", lambda x: x[:, :, ::-1]),
    ("vertical_flip", lambda x: x[:, ::-1, :]),
    ("rot90", lambda x: x.transpose(0, 2, 1, 3)),
])
def test_a_flip_or_transpose_gives_either_the_image_or_exactly_its_mirror(name, transform):
    batch = _batch()
    out = _apply({name: True}, batch=batch)
    same = [np.allclose(o, batch[0]) for o in out]
    mirrored = [np.allclose(o, transform(batch)[0]) for o in out]
    assert all(s or m for s, m in zip(same, mirrored))
    assert any(same) and any(mirrored)  # sixteen coin tosses: both sides come up


def test_brightness_shifts_every_pixel_by_one_amount_per_image():
    batch = _batch()
    out = _apply({"brightness": 0.2}, batch=batch)
    shifts = (out - batch).reshape(len(batch), -1)
    assert np.allclose(shifts, shifts[:, :1], atol=1e-5)  # nothing clipped: one shift per image
    assert 0 < np.abs(shifts[:, 0]).max() <= 0.2 + 1e-6 and np.ptp(shifts[:, 0]) > 0


def test_contrast_scales_the_spread_about_the_mean():
    batch = _batch()
    out = _apply({"contrast": 0.5}, batch=batch)
    ratio = out.reshape(len(batch), -1).std(axis=1) / batch.reshape(len(batch), -1).std(axis=1)
    assert ((ratio > 0.5 - 1e-3) & (ratio < 1.5 + 1e-3)).all() and np.ptp(ratio) > 0.05
    assert np.allclose(out.mean(axis=(1, 2, 3)), batch.mean(axis=(1, 2, 3)), atol=0.02)


@pytest.mark.parametrize("name, strength", [("rotation", 90.0), ("width_shift", 0.2), ("height_shift", 0.2),
                                            ("zoom", 0.3), ("shear", 0.3)])
def test_a_geometric_augmentation_moves_the_pixels_and_keeps_the_shape(name, strength):
    batch = _batch()
    out = _apply({name: strength}, batch=batch)
    assert out.shape == batch.shape
    moved = np.abs(out - batch).reshape(len(batch), -1).max(axis=1) > 0.1
    assert moved.mean() > 0.5


def test_the_same_seed_gives_the_same_output_and_another_seed_another():
    config = {"horizontal_flip": True, "rot90": True, "brightness": 0.2, "rotation": 30.0}
    assert np.array_equal(_apply(config, seed=3), _apply(config, seed=3))
    assert not np.array_equal(_apply(config, seed=3), _apply(config, seed=4))


def test_not_training_leaves_the_images_untouched():
    batch = _batch()
    pipeline = augment.build_augmentation({"horizontal_flip": True, "rot90": True, "brightness": 0.3}, 0)
    assert np.array_equal(np.asarray(pipeline(batch, training=False)), batch)


def test_the_gallery_has_a_panel_for_every_augmentation_and_marks_unused_ones():
    panels = augment.gallery_panels({"rot90": True})
    assert set(panels) == set(augment.OFF)
    assert panels["rot90"][0][0] == "rot90=True"
    assert panels["zoom"][0][0].endswith("(off)")


def _photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(150, 40, (96, 96)), 0, 255).astype(np.uint8)
    photo[30:60, 30:60] = 235  # a bright patch that clips first
    return photo


def _one_factor(before: np.ndarray, after: np.ndarray) -> bool:
    """True when after is before times one factor, up to rounding, wherever it did not clip at white."""
    kept = (before > 40) & (after < 255)
    ratio = after[kept] / before[kept]
    one_factor = np.abs(ratio - np.median(ratio)).max() < 0.03
    brighter_clips_more = np.median(ratio) <= 1 or (after == 255).sum() >= (before == 255).sum()
    return bool(one_factor and brighter_clips_more)


@pytest.mark.parametrize("name, strength, check", [
    ("gain", 0.6, lambda before, after: _one_factor(before, after)),
    ("brighter", 0.4, lambda before, after: _one_factor(before, after) and (after >= before).all()),
    ("gamma", 0.6, lambda before, after: not np.array_equal(before, after)),
    ("blur", 3.0, lambda before, after: np.abs(np.diff(after.astype(float))).mean()
     < np.abs(np.diff(before.astype(float))).mean()),
    ("noise", 15.0, lambda before, after: not np.array_equal(before, after)),
    ("jpeg", 10, lambda before, after: not np.array_equal(before, after)),
    ("shift", 0.2, lambda before, after: not np.array_equal(before, after)),
    ("scale", 0.2, lambda before, after: not np.array_equal(before, after)),
    ("turn", 45.0, lambda before, after: not np.array_equal(before, after)),
])
def test_a_camera_change_changes_the_photo_as_named_and_keeps_its_size(name, strength, check):
    before = _photo()
    draws = [augment.camera_change(before, {name: strength}, np.random.default_rng(s)) for s in range(40)]
    assert all(after.shape == before.shape and after.dtype == np.uint8 for after in draws)
    changed = [after for after in draws if not np.array_equal(after, before)]
    assert 10 <= len(changed) <= 30  # each change is drawn for about half of the photos
    assert all(check(before, after) for after in changed)


def test_camera_changes_are_off_unless_named_and_one_seed_gives_one_draw():
    assert augment.camera_config({"horizontal_flip": True, "brightness": 0.2}) == {}
    camera = augment.camera_config({"gain": 0.3, "blur": 1.0, "rot90": True})
    assert camera == {"gain": 0.3, "blur": 1.0}
    photo = _photo()
    one, two = (augment.camera_change(photo, camera, np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(one, two)
    assert augment.build_augmentation({"gain": 0.3}) is None  # camera changes are not Keras layers


def test_the_part_circle_moves_with_a_camera_shift_and_scale_as_the_finder_would_find_it():
    photo = fake_part(np.random.default_rng(3), defect=False, size=300)
    circle = find_part(photo)
    moved = 0
    for seed in range(12):
        camera = {"shift": 0.06, "scale": 0.1, "gain": 0.3, "turn": 45.0}
        changed, where = augment.camera_change_moving(photo, circle, camera, np.random.default_rng(seed))
        found = find_part(changed)
        assert np.abs(np.subtract(where, found)).max() < 2  # centre and radius, in pixels
        moved += where != circle
    assert moved >= 3  # some draws shifted or scaled the photo
    assert augment.camera_change_moving(photo, None, {"shift": 0.06}, np.random.default_rng(0))[1] is None


def test_a_camera_training_set_at_the_part_stage_is_one_set_of_batches_for_one_seed():
    rng = np.random.default_rng(0)
    photos = np.stack([fake_part(rng, defect=bool(i % 2), size=300) for i in range(6)])
    circles = part_circles(photos)
    assert all(c is not None for c in circles)

    def first_batch() -> np.ndarray:
        ds = camera_dataset(photos, circles, np.arange(6) % 2, 6, 32, "part", {"gain": 0.4, "blur": 2.0}, 7)
        return next(iter(ds))[0].numpy()

    one, two = first_batch(), first_batch()
    assert one.shape == (6, 32, 32, 1) and 0 <= one.min() and one.max() <= 1
    assert np.array_equal(one, two)
    assert (one[:, 0, 0, 0] == np.float32(128 / 255)).all()  # the bench beyond the part: one grey


def test_the_camera_pipeline_gives_the_same_epochs_without_autotuning_whose_iterators_stall_training():
    rng = np.random.default_rng(1)
    photos = np.stack([fake_part(rng, defect=bool(i % 2), size=300) for i in range(8)])
    circles = part_circles(photos)

    def pipeline() -> tf.data.Dataset:
        return camera_dataset(photos, circles, np.arange(8) % 2, 4, 32, "part", {"gain": 0.4, "blur": 2.0}, 3)

    plain = pipeline()
    assert plain.options().autotune.enabled is False
    tuned_options = tf.data.Options()
    tuned_options.autotune.enabled = True
    tuned = pipeline().with_options(tuned_options)  # autotuning back on: the batches must not change
    epochs = [([b[0].numpy() for b in plain], [b[0].numpy() for b in tuned]) for _ in range(2)]
    for without, tuned_batches in epochs:  # each epoch new changes and a new order, the same either way
        assert len(without) == 2 and all(np.array_equal(a, b) for a, b in zip(without, tuned_batches))
    assert not np.array_equal(epochs[0][0][0], epochs[1][0][0])


def test_training_with_camera_changes_skips_photos_without_a_part_and_counts_the_rest(tmp_path):
    root = write_casting_tree(tmp_path / "casting_data", {"train": 4}, size=300)
    cv2.imwrite(str(root / "train" / "ok_front" / "cast_ok_0_blank.jpeg"), np.full((300, 300), 120, np.uint8))
    rows = scan_dataset(root, ("train",))
    with pytest.warns(UserWarning, match=r"skipped part not found: .*cast_ok_0_blank\.jpeg"):
        dataset, count = training_dataset(rows, 32, 16, {"rot90": True, "gain": 0.4, "blur": 1.0}, 0, "part")
    assert count == 8  # the blank photo has no part: not trained on, and named
    x, y = next(iter(dataset))
    assert x.shape == (8, 32, 32, 1) and sorted(y.numpy().tolist()) == [0.0] * 4 + [1.0] * 4
    with pytest.warns(UserWarning, match=r"skipped part not found: .*cast_ok_0_blank\.jpeg"):
        plain, plain_count = training_dataset(rows, 32, 16, {"rot90": True}, 0, "part")
    assert plain_count == 8 and next(iter(plain))[0].shape == (8, 32, 32, 1)


def test_a_camera_turn_turns_the_part_about_its_own_centre_so_its_circle_stays_put():
    photo = fake_part(np.random.default_rng(4), defect=True, size=300)
    circle = find_part(photo)
    turned = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        changed, where = augment.camera_change_moving(photo, circle, {"turn": 45.0}, rng)
        assert where == circle
        assert np.abs(np.subtract(find_part(changed), circle)).max() < 2
        turned += not np.array_equal(changed, photo)
    assert turned >= 3  # about half of the draws turn the photo


def _blended_by_one_weight(value: float, label: float, own: int, values: np.ndarray,
                           labels: np.ndarray) -> bool:
    """Whether (value, label) is image own's and another's (value, label) blended by one weight in [0, 1]."""
    for other in range(len(values)):
        if values[other] == values[own]:
            if abs(value - values[own]) < 1e-6 and abs(label - labels[own]) < 1e-5:
                return True  # blended with itself: unchanged
            continue
        weight = (value - values[other]) / (values[own] - values[other])
        blended_label = weight * labels[own] + (1 - weight) * labels[other]
        if -1e-6 <= weight <= 1 + 1e-6 and abs(blended_label - label) < 1e-5:
            return True
    return False


def test_mixup_blends_each_image_and_its_label_with_one_other_of_the_batch_by_the_same_weight():
    values, labels = np.array([0.0, 0.2, 0.6, 1.0], np.float32), np.array([0.0, 0.0, 1.0, 1.0], np.float32)
    images = np.broadcast_to(values[:, None, None, None], (4, SIZE, SIZE, 1)).copy()
    mixed, mixed_labels = augment.mix_pairs(1.0, seed=3)(tf.constant(images), tf.constant(labels))
    mixed, mixed_labels = np.asarray(mixed), np.asarray(mixed_labels)
    assert mixed.shape == images.shape and mixed_labels.shape == (4,)
    assert all(np.ptp(image) < 1e-6 for image in mixed)  # a blend of two flat images is flat
    assert all(_blended_by_one_weight(float(image[0, 0, 0]), float(label), own, values, labels)
               for own, (image, label) in enumerate(zip(mixed, mixed_labels)))
    assert not np.allclose(mixed, images)  # Beta(1, 1) weights: some image is blended


def test_a_training_set_with_mixup_gives_blended_labels_between_zero_and_one(tmp_path):
    root = write_casting_tree(tmp_path / "casting_data", {"train": 4}, size=300)
    rows = scan_dataset(root, ("train",))
    dataset, count = training_dataset(rows, 32, 8, {"rot90": True, "gain": 0.4, "mixup": 1.0}, 0, "part")
    x, y = next(iter(dataset))
    assert count == 8 and x.shape == (8, 32, 32, 1) and y.shape == (8,)
    assert ((y.numpy() > 0.01) & (y.numpy() < 0.99)).any() and ((y.numpy() >= 0) & (y.numpy() <= 1)).all()
