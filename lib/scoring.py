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

# How the network goes to the line. Dynamic-range quantisation keeps the weights as 8-bit integers and the
# activations float (XNNPACK's dynamically quantised kernels, each image's own scale). On the default run of
# 2026-12-02 it cut the network's cost per view from 0.31 to 0.12 ms on two cores, moved no score of the
# 2,042 validation and test parts by more than 0.010, and changed none of the 715 test verdicts (README).
WEIGHTS_8BIT = True


def to_tflite(model: keras.Model, weights_8bit: bool = WEIGHTS_8BIT) -> bytes:
    """The Keras model as a TensorFlow Lite flatbuffer, its weights stored as 8-bit integers unless asked
    not to (WEIGHTS_8BIT); the converter's log lines and warnings silenced."""
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel(logging.ERROR)  # "Assets written to ..." would reach the report and the terminal
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            if weights_8bit:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: activations stay float
            return converter.convert()
    finally:
        logger.setLevel(level)


def save_tflite(model: keras.Model, run_dir: str | os.PathLike, weights_8bit: bool = WEIGHTS_8BIT) -> Path:
    """Write the model as the run's MODEL_TFLITE (whole or not at all), for lib.inspect on the line."""
    return write_whole(Path(run_dir) / MODEL_TFLITE, to_tflite(model, weights_8bit))


def fast_predictor(model: keras.Model, views: int = 1, weights_8bit: bool = WEIGHTS_8BIT) -> Predictor:
    """The model as TensorFlow Lite on LiteRT, as the line scores it: (N, H, W) uint8 images to N defect
    probabilities.

    With 8-bit weights (the default, as the run's MODEL_TFLITE), fast_cnn runs 2.6 times faster than with
    float weights on a two-core CPU (the seed's network no faster), its scores within 0.035 of the float
    ones on make cv's held-out parts; with float weights, the Keras scores to float rounding (WEIGHTS_8BIT).
    With views=8 each score is the mean over the eight dihedral views (over the four turns alone where those
    are sure: runtime.eight_view_scores).
    """
    return tflite_predictor(to_tflite(model, weights_8bit), views)[0]  # which refuses views not in VIEWS
