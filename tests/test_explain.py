"""Grad-CAM points at what a tiny network learned to look for."""

from __future__ import annotations

import keras
import numpy as np

from lib.explain import grad_cam
from lib.models import averaged, build_model
from lib.train import set_seed


def _spot_images(n: int, size: int, rng: np.random.Generator):
    images = rng.integers(40, 80, size=(n, size, size)).astype(np.uint8)
    labels = np.arange(n) % 2
    spots = rng.integers(4, size - 8, size=(n, 2))
    for image, label, (r, c) in zip(images, labels, spots):
        if label:
            image[r:r + 4, c:c + 4] = 255
    return images, labels, spots


def test_grad_cam_is_image_sized_in_unit_range_and_peaks_on_the_spot():
    set_seed(0)
    rng = np.random.default_rng(0)
    size = 32
    images, labels, spots = _spot_images(256, size, rng)
    model = keras.Sequential([
        keras.Input((size, size, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(images[..., None] / 255.0, labels, epochs=15, batch_size=32, verbose=0)
    hits = 0
    for i in np.flatnonzero(labels)[:10]:
        cam = grad_cam(model, images[i])
        assert cam.shape == (size, size) and cam.min() >= 0 and cam.max() <= 1
        r, c = spots[i]
        hits += cam[r:r + 4, c:c + 4].max() == cam.max() or cam[r:r + 4, c:c + 4].mean() > 0.5
    assert hits >= 8


def test_grad_cam_of_averaged_networks_is_the_mean_of_their_maps_scaled_to_one():
    set_seed(2)  # first weights under which both untrained networks have a map (with others one may be all 0)
    members = [build_model("fast_cnn", 32, width=4) for _ in range(2)]
    image = np.random.default_rng(3).integers(0, 255, (32, 32)).astype(np.uint8)
    each = [grad_cam(m, image) for m in members]
    assert all(e.max() == 1.0 for e in each) and not np.allclose(*each)
    mean = np.mean(each, axis=0)
    cam = grad_cam(averaged(members), image)
    assert cam.shape == (32, 32) and cam.max() == 1.0
    assert np.allclose(cam, mean / mean.max(), atol=1e-6)
