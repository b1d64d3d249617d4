"""The one definition of training augmentation, shared by the gallery and by training."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import keras
import numpy as np

from lib.part import Circle
from lib.settings import AUGMENTATIONS_OFF

OFF = AUGMENTATIONS_OFF  # every augmentation the parameters may name, and its value when off
CAMERA = ("gain", "brighter", "gamma", "blur", "noise", "jpeg", "shift", "scale", "turn")
CAMERA_CHANCE = 0.5  # each camera change is drawn for half of the photos
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
    "gain": [0.15, 0.3, 0.45, 0.6],
    "brighter": [0.1, 0.2, 0.3, 0.4],
    "gamma": [0.15, 0.3, 0.45, 0.6],
    "blur": [0.5, 1.0, 2.0, 3.0],
    "noise": [3.0, 6.0, 10.0, 15.0],
    "jpeg": [60, 40, 20, 10],
    "shift": [0.02, 0.04, 0.06, 0.1],
    "scale": [0.03, 0.06, 0.1, 0.15],
    "turn": [10.0, 22.5, 45.0, 180.0],
    "mixup": [0.2, 0.4, 1.0, 4.0],
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


def camera_config(config: dict) -> dict:
    """The camera changes switched on in an augmentation config (checked), or {} when none is."""
    c = check_augmentation(config)
    return {name: c[name] for name in CAMERA if c[name]}


def camera_change(photo: np.ndarray, camera: dict, rng: np.random.Generator) -> np.ndarray:
    """One random draw of the configured camera changes applied to a grey uint8 photo (same size).

    Each change is applied with probability CAMERA_CHANCE, so training also keeps seeing photos as
    taken (with every change at once, the network learnt the changed photos and lost the clean ones).
    """
    return camera_change_moving(photo, None, camera, rng)[0]


def camera_change_moving(photo: np.ndarray, circle: Circle | None, camera: dict, rng: np.random.Generator
                         ) -> tuple[np.ndarray, Circle | None]:
    """camera_change, and where the part's circle (found on the photo as taken) lies after it: only the
    shift and scale move it (a turn is made about the part's centre), so training need not find the part
    again in every changed photo."""
    camera = {name: value for name, value in camera.items() if rng.random() < CAMERA_CHANCE}
    image = photo.astype(np.float32)
    height, width = photo.shape
    warp = None  # the photo's affine map, when it is turned, shifted or scaled
    if camera.get("turn"):  # the part turned on the bench, about its own centre (the frame's, if unknown)
        centre = (circle[0], circle[1]) if circle is not None else (width / 2, height / 2)
        warp = cv2.getRotationMatrix2D(centre, rng.uniform(-1, 1) * camera["turn"], 1.0)
    if camera.get("shift") or camera.get("scale"):
        zoom = 1 + rng.uniform(-1, 1) * camera.get("scale", 0.0)
        dx, dy = rng.uniform(-1, 1, 2) * camera.get("shift", 0.0) * np.array([width, height])
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, zoom)
        matrix[:, 2] += (dx, dy)
        if circle is not None:  # the turn leaves the part's centre where it was
            x, y = matrix @ (circle[0], circle[1], 1.0)
            circle = (float(x), float(y), circle[2] * zoom)
        warp = matrix if warp is None else matrix @ np.vstack([warp, (0.0, 0.0, 1.0)])  # one warp for both
    if warp is not None:
        image = cv2.warpAffine(image, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)
    if camera.get("gamma"):
        image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** np.exp(rng.uniform(-1, 1) * camera["gamma"])
    if camera.get("gain"):
        image = image * (1 + rng.uniform(-1, 1) * camera["gain"])
    if camera.get("brighter"):
        image = image * (1 + rng.uniform(0, 1) * camera["brighter"])
    if camera.get("blur"):
        image = cv2.GaussianBlur(image, (0, 0), max(rng.uniform(0, camera["blur"]), 1e-3))
    if camera.get("noise"):
        image = image + rng.normal(0, rng.uniform(0, camera["noise"]), image.shape)
    out = np.clip(image, 0, 255).astype(np.uint8)  # highlights clip here, as on a sensor
    if camera.get("jpeg"):
        quality = int(rng.integers(camera["jpeg"], 96))
        encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        out = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return out, circle


def mix_pairs(alpha: float, seed: int = 0) -> Callable:
    """MixUp on (images, labels) batches: each image and its label blended with another of the batch's by
    a weight from Beta(alpha, alpha) (keras.layers.MixUp; labels of shape (N,) kept so)."""
    layer = keras.layers.MixUp(alpha=alpha, seed=seed + 8)

    def mix(images, labels):
        mixed = layer({"images": images, "labels": keras.ops.reshape(labels, (-1, 1))}, training=True)
        return mixed["images"], keras.ops.reshape(mixed["labels"], (-1,))
    return mix


class MixWithHalfTurn:
    """MixUp as the gallery can show it with one photo: the image blended with its own half turn (in training,
    another photo of the batch), keeping the larger share of a weight from Beta(alpha, alpha)."""

    def __init__(self, alpha: float, seed: int = 0):
        self.alpha, self.rng = alpha, np.random.default_rng(seed)

    def __call__(self, images, training: bool = True) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if not training:
            return images
        weight = self.rng.beta(self.alpha, self.alpha)
        weight = max(weight, 1 - weight)
        return weight * images + (1 - weight) * images[:, ::-1, ::-1]


class CameraChange:
    """A camera change as the gallery calls augmentations: [0, 1] image batches in, changed batches out."""

    def __init__(self, camera: dict, seed: int = 0):
        self.camera, self.rng = camera, np.random.default_rng(seed)

    def __call__(self, images, training: bool = True) -> np.ndarray:
        batch = (np.asarray(images)[..., 0] * 255).round().astype(np.uint8)
        changed = [camera_change(image, self.camera, self.rng) for image in batch] if training else batch
        return np.stack(changed)[..., None].astype(np.float32) / 255.0


def build_augmentation(config: dict, seed: int = 0) -> keras.Sequential | None:
    """A Sequential of the configured augmentations for [0, 1] images, or None if all are off."""
    layers = augmentation_layers(config, seed)
    return keras.Sequential(layers, name="augmentation") if layers else None


def one_augmentation(name: str, strength: float | bool, seed: int = 0) -> object:
    """A callable on [0, 1] batches doing only the named augmentation at this strength (the gallery's)."""
    if name in CAMERA:
        return CameraChange({name: strength}, seed)
    if name == "mixup":
        return MixWithHalfTurn(strength, seed)
    return build_augmentation({name: strength}, seed)


def gallery_panels(config: dict, seed: int = 0) -> dict[str, list[tuple[str, object]]]:
    """For every augmentation: (label, a callable doing only it) per strength; '(off)' if unused."""
    used = check_augmentation(config)
    return {name: [(f"{name}={s}" + ("" if used[name] != OFF[name] else " (off)"),
                    one_augmentation(name, s, seed)) for s in strengths]
            for name, strengths in GALLERY_STRENGTHS.items()}
