"""The one definition of training augmentation, shared by the gallery and by training."""

from __future__ import annotations

import keras

# Every augmentation the parameters may name, with the value that switches it off.
OFF = {
    "rotation": 0.0,         # degrees: a random angle in [-rotation, +rotation]
    "width_shift": 0.0,      # fraction of the width
    "height_shift": 0.0,     # fraction of the height
    "shear": 0.0,            # shear factor (Keras RandomShear)
    "zoom": 0.0,             # fraction: zoom in or out by up to this much
    "horizontal_flip": False,
    "vertical_flip": False,
    "rot90": False,          # random transpose: with both flips, all eight 90-degree views
    "brightness": 0.0,       # add up to +/- this fraction of full scale (Keras RandomBrightness)
    "contrast": 0.0,         # scale contrast by a factor in [1 - contrast, 1 + contrast]
}
# Strengths shown in the gallery, one panel per augmentation.
GALLERY_STRENGTHS = {
    "rotation": [15.0, 45.0, 90.0, 180.0],
    "width_shift": [0.02, 0.05, 0.1, 0.2],
    "height_shift": [0.02, 0.05, 0.1, 0.2],
    "shear": [0.05, 0.1, 0.2, 0.4],
    "zoom": [0.05, 0.1, 0.2, 0.3],
    "horizontal_flip": [True],
    "vertical_flip": [True],
    "rot90": [True],
    "brightness": [0.1, 0.25, 0.4, 0.6],
    "contrast": [0.1, 0.25, 0.5, 0.8],
}


class RandomTranspose(keras.layers.Layer):
    """Transpose each image (swap height and width) with probability 1/2."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        coin = keras.random.uniform((keras.ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return keras.ops.where(coin < 0.5, keras.ops.transpose(images, (0, 2, 1, 3)), images)


def check_augmentation(config: dict) -> dict:
    """The config with every missing augmentation switched off; ValueError naming an unknown one."""
    unknown = sorted(set(config) - set(OFF))
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; known: {', '.join(OFF)}")
    return {**OFF, **config}


def augmentation_layers(config: dict, seed: int = 0) -> list[keras.layers.Layer]:
    """The Keras preprocessing layers for the switched-on augmentations, in a fixed order."""
    c = check_augmentation(config)
    layers: list[keras.layers.Layer] = []
    flips = [m for m, on in (("horizontal", c["horizontal_flip"]), ("vertical", c["vertical_flip"]))
             if on]
    if flips:
        layers.append(keras.layers.RandomFlip("_and_".join(flips), seed=seed))
    if c["rot90"]:
        layers.append(RandomTranspose(seed=seed + 1))
    if c["rotation"]:
        layers.append(keras.layers.RandomRotation(c["rotation"] / 360, fill_mode="nearest",
                                                  seed=seed + 2))
    if c["width_shift"] or c["height_shift"]:
        layers.append(keras.layers.RandomTranslation(c["height_shift"], c["width_shift"],
                                                     fill_mode="nearest", seed=seed + 3))
    if c["shear"]:
        layers.append(keras.layers.RandomShear(c["shear"], c["shear"], fill_mode="nearest",
                                               seed=seed + 4))
    if c["zoom"]:
        layers.append(keras.layers.RandomZoom(c["zoom"], fill_mode="nearest", seed=seed + 5))
    if c["brightness"]:
        layers.append(keras.layers.RandomBrightness(c["brightness"], value_range=(0.0, 1.0),
                                                    seed=seed + 6))
    if c["contrast"]:
        layers.append(keras.layers.RandomContrast(c["contrast"], value_range=(0.0, 1.0),
                                                  seed=seed + 7))
    return layers


def build_augmentation(config: dict, seed: int = 0) -> keras.Sequential | None:
    """A Sequential of the configured augmentations for [0, 1] images, or None if all are off."""
    layers = augmentation_layers(config, seed)
    return keras.Sequential(layers, name="augmentation") if layers else None


def gallery_panels(config: dict, seed: int = 0) -> dict[str, list[tuple[str, keras.Sequential]]]:
    """For every augmentation: (label, a Sequential doing only it) per strength; '(off)' if unused."""
    used = check_augmentation(config)
    return {name: [(f"{name}={s}" + ("" if used[name] != OFF[name] else " (off)"),
                    build_augmentation({name: s}, seed)) for s in strengths]
            for name, strengths in GALLERY_STRENGTHS.items()}
