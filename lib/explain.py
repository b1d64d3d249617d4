"""Where the network looked: Grad-CAM heatmaps."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import tensorflow as tf

from lib.data import decode_image, network_input, resize_image
from lib.models import last_conv_layer, members_of


def grad_cam(model: keras.Model, image: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM of the defect score for one (H, W) uint8 image: an (H, W) map with values in [0, 1] (for the
    mean of several networks, models.averaged, the mean of their maps)."""
    members = members_of(model)
    if len(members) > 1:
        cam = np.mean([grad_cam(member, image, layer_name) for member in members], axis=0)
        return (cam / cam.max() if cam.max() > 0 else cam).astype(np.float32)
    layer = model.get_layer(layer_name or last_conv_layer(model))
    probe = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    x = tf.convert_to_tensor(image[None, ..., None].astype(np.float32) / 255.0)
    with tf.GradientTape() as tape:
        features, score = probe(x, training=False)
        target = score[:, 0]
    grads = tape.gradient(target, features)[0]
    weights = tf.reduce_mean(grads, axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(features[0] * weights, axis=-1)).numpy()
    cam = cv2.resize(cam, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    top = cam.max()
    return (cam / top if top > 0 else cam).astype(np.float32)


def explain_parts(model: keras.Model, parts, size: int = 160, stage: str = "photo"
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each row's image: what the network saw at `size` px (the photo, or the centred part) and its
    Grad-CAM."""
    model_size = int(model.input_shape[1])
    photos = [decode_image(p) for p in parts["path"]]
    inputs = [network_input(photo, model_size, stage) for photo in photos]
    inputs = [np.full((model_size, model_size), 128, np.uint8) if x is None else x for x in inputs]
    shown = photos if stage == "photo" else inputs  # the photo as taken, or the centred part it saw
    return [resize_image(x, size) for x in shown], [grad_cam(model, x) for x in inputs]
