"""The networks by name (the seed tutorials', our fast one, standard Keras backbones), and loading one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from lib.config import BEST_MODEL


def seed_baseline(image_size: int) -> keras.Model:
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


def seed_wide(image_size: int) -> keras.Model:
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


FAST_CNN_WIDTH = 8  # fast_cnn's first-stage channels, doubled at each of its four stages (8 -> 64)
POOLINGS = ("avg", "avgmax")  # fast_cnn's last stage pooled by its mean (its own), or its mean and maximum


def fast_cnn(image_size: int, width: int = FAST_CNN_WIDTH, dropout: float = 0.2, pooling: str = POOLINGS[0]
             ) -> keras.Model:
    """Our two-core network: four strided conv-BN-ReLU stages of width, 2 x width, ... channels, global
    average pooling (avgmax: and beside it the global maximum, so a small flaw is not averaged away), one
    sigmoid."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling '{pooling}'; choose one of: {', '.join(POOLINGS)}")
    inputs = keras.Input((image_size, image_size, 1))
    x = inputs
    for stage in range(4):
        x = _conv_bn_relu(x, width * 2 ** stage, strides=2, name=f"stage{stage}_down")
        if stage >= 1:
            x = _conv_bn_relu(x, width * 2 ** stage, strides=1, name=f"stage{stage}_conv")
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    if pooling == "avgmax":
        peak = layers.GlobalMaxPooling2D(name="pool_max")(x)
        pooled = layers.Concatenate(name="pool_avgmax")([pooled, peak])
    outputs = layers.Dense(1, activation="sigmoid", name="defect")(layers.Dropout(dropout)(pooled))
    return keras.Model(inputs, outputs, name="fast_cnn")


def standard_backbone(application: Callable[..., keras.Model], image_size: int, scale: float, offset: float,
                      name: str, dropout: float = 0.2, **options) -> keras.Model:
    """A keras.applications network, untrained (weights=None: nothing can be downloaded here), on one grey
    channel: our [0, 1] input rescaled to the range it expects, its features averaged, one sigmoid.

    The layers are those of one flat model, so batch-norm re-estimation and Grad-CAM see them all.
    """
    inputs = keras.Input((image_size, image_size, 1))
    expected = layers.Rescaling(scale, offset, name="to_backbone_range")(inputs)
    base = application(include_top=False, weights=None, input_tensor=expected, pooling="avg", **options)
    outputs = layers.Dense(1, activation="sigmoid", name="defect")(layers.Dropout(dropout)(base.output))
    return keras.Model(inputs, outputs, name=name)


def mobilenet_v3_small(image_size: int) -> keras.Model:
    """MobileNetV3Small (Howard et al. 2019), which rescales 0-255 to [-1, 1] itself."""
    return standard_backbone(keras.applications.MobileNetV3Small, image_size, 255.0, 0.0,
                             "mobilenet_v3_small")


def efficientnet_b0(image_size: int) -> keras.Model:
    """EfficientNetB0 (Tan and Le 2019), which rescales 0-255 to [0, 1] itself."""
    return standard_backbone(keras.applications.EfficientNetB0, image_size, 255.0, 0.0, "efficientnet_b0")


def resnet50(image_size: int) -> keras.Model:
    """ResNet50 (He et al. 2016), given [-1, 1]; the smallest ResNet keras.applications has."""
    return standard_backbone(keras.applications.ResNet50, image_size, 2.0, -1.0, "resnet50")


MODELS: dict[str, Callable[..., keras.Model]] = {
    "seed_baseline": seed_baseline,
    "seed_wide": seed_wide,
    "fast_cnn": fast_cnn,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "resnet50": resnet50,
}
BACKBONES = ("fast_cnn", "mobilenet_v3_small", "efficientnet_b0", "resnet50")  # make backbones compares these


def build_model(name: str, image_size: int, width: int = FAST_CNN_WIDTH, pooling: str = POOLINGS[0]
                ) -> keras.Model:
    """The named network for image_size x image_size x 1 inputs (fast_cnn width channels wide at its first
    stage, pooled by pooling; the standard networks have their own); ValueError naming the choices."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    if name == "fast_cnn":
        return fast_cnn(image_size, width, pooling=pooling)
    return MODELS[name](image_size)


def compile_model(model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
                  = 1e-3, ema_momentum: float = 0.0, weight_decay: float = 0.0, label_smoothing: float = 0.0
                  ) -> keras.Model:
    """Compile for binary defect/ok with Adam (keeping a moving average of the weights when ema_momentum > 0;
    decoupled weight decay when weight_decay > 0; labels drawn label_smoothing towards 0.5 in the loss), by
    keyword (a positional third is loss_weights)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, use_ema=ema_momentum > 0,
                                        ema_momentum=ema_momentum or 0.99, weight_decay=weight_decay or None),
        loss=(keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing) if label_smoothing > 0
              else "binary_crossentropy"),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.Recall(name="recall"),
                 keras.metrics.AUC(name="auc")],
    )
    return model


def averaged(members: list[keras.Model], name: str = "networks") -> keras.Model:
    """One model whose score is the mean of the members' scores, each member whole inside it as network_1,
    network_2, ... (their layers shared, not copied; one name twice is not allowed in a model)."""
    inputs = keras.Input(members[0].input_shape[1:])
    named = [keras.Model(m.inputs, m.outputs[0], name=f"network_{n}") for n, m in enumerate(members, 1)]
    return keras.Model(inputs, layers.Average(name="mean_score")([m(inputs) for m in named]), name=name)


def members_of(model: keras.Model) -> list[keras.Model]:
    """The networks whose scores a model averages (models.averaged), or the model itself when it is one."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner if inner and isinstance(model.layers[-1], layers.Average) else [model]


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
