"""The networks by name (the two seed tutorials' and our fast one), and loading a saved one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
from keras import layers

from lib.config import BEST_MODEL


def seed_baseline(image_size: int = 300) -> keras.Model:
    """The first seed's network, exactly: two strided convolutions, max pooling, two dense layers."""
    return keras.Sequential([
        keras.Input((image_size, image_size, 1)),
        layers.Conv2D(32, 3, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="seed_baseline")


def seed_wide(image_size: int = 300) -> keras.Model:
    """The explainability seed's network: a 7x7 strided stem, three conv/pool stages, one dense."""
    return keras.Sequential([
        keras.Input((image_size, image_size, 1)),
        layers.Conv2D(16, 7, strides=2, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(224, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="seed_wide")


def fast_cnn(image_size: int = 128, widths: Sequence[int] = (12, 24, 48, 96),
             dropout: float = 0.2) -> keras.Model:
    """Our two-core network: strided conv-BN-ReLU stages, global average pooling, one sigmoid."""
    inputs = keras.Input((image_size, image_size, 1))
    x = inputs
    for stage, width in enumerate(widths):
        x = _conv_bn_relu(x, width, strides=2, name=f"stage{stage}_down")
        if stage >= 1:
            x = _conv_bn_relu(x, width, strides=1, name=f"stage{stage}_conv")
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="defect")(layers.Dropout(dropout)(pooled))
    return keras.Model(inputs, outputs, name="fast_cnn")


MODELS: dict[str, Callable[..., keras.Model]] = {
    "seed_baseline": seed_baseline,
    "seed_wide": seed_wide,
    "fast_cnn": fast_cnn,
}


def build_model(name: str, image_size: int) -> keras.Model:
    """The named network for image_size x image_size x 1 inputs; ValueError naming the choices."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    return MODELS[name](image_size)


def compile_model(model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
                  = 1e-3) -> keras.Model:
    """Compile for binary defect/ok with Adam, by keyword (a positional third is loss_weights)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.Recall(name="recall"),
                 keras.metrics.AUC(name="auc")],
    )
    return model


def last_conv_layer(model: keras.Model) -> str:
    """Name of the last layer with a 4-D (spatial) output, for Grad-CAM."""
    for layer in reversed(model.layers):
        if len(layer.output.shape) == 4 and not isinstance(layer, layers.InputLayer):
            return layer.name
    raise ValueError(f"model {model.name} has no convolutional layer")


def _conv_bn_relu(x, width: int, strides: int, name: str):
    x = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)  # settles in a few epochs
    return layers.ReLU(name=f"{name}_relu")(x)


def load_model(path: str | Path) -> keras.Model:
    """Load a saved Keras model (a .keras file, or a run folder holding best.keras)."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}: give a run folder from outputs/ or a .keras file")
    try:
        return keras.models.load_model(path)
    except Exception as err:  # Keras raises many types for a file that is not a model
        raise ValueError(f"{path} is not a Keras model ({type(err).__name__}: {err})") from None
