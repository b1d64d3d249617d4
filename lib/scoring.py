"""Keras models to fast predictors: the TensorFlow Lite conversion (in memory, or saved for the line)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from lib.runs import write_whole
from lib.runtime import MODEL_TFLITE, Predictor, tflite_predictor


def to_tflite(model: keras.Model) -> bytes:
    """The Keras model as a TensorFlow Lite flatbuffer (the converter's log lines and warnings silenced)."""
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel(logging.ERROR)  # "Assets written to ..." would reach the report and the terminal
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.TFLiteConverter.from_keras_model(model).convert()
    finally:
        logger.setLevel(level)


def save_tflite(model: keras.Model, run_dir: str | os.PathLike) -> Path:
    """Write the model as the run's MODEL_TFLITE (whole or not at all), for lib.inspect on the line."""
    return write_whole(Path(run_dir) / MODEL_TFLITE, to_tflite(model))


def fast_predictor(model: keras.Model, views: int = 1) -> Predictor:
    """The model as TensorFlow Lite on LiteRT: (N, H, W) uint8 images to N defect probabilities.

    Same scores as Keras (to float rounding), about 1.7 times faster on a two-core CPU. With
    views=8 each score is the mean over the eight dihedral views (eight times the work).
    """
    return tflite_predictor(to_tflite(model), views)[0]  # which refuses a views count not in VIEWS
