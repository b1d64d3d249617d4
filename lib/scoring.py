"""Keras models to fast predictors: the TensorFlow Lite conversion (in memory, or saved for the line)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import keras
import pandas as pd
import tensorflow as tf

from lib.runs import write_whole
from lib.runtime import MODEL_TFLITE, Predictor, score_files, tflite_predictor


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


def score_table(model: keras.Model, table: pd.DataFrame, views: int = 1, batch_size: int = 64,
                stage: str = "photo") -> pd.DataFrame:
    """The rows whose image could be read (and part found), with the defect probability in 'score'."""
    scored = score_files(fast_predictor(model, views), int(model.input_shape[1]), table["path"].tolist(),
                         batch_size, stage=stage)
    readable = scored["defect_probability"].notna().to_numpy()
    return table.assign(score=scored["defect_probability"].to_numpy())[readable].reset_index(drop=True)


def score_held_out(model: keras.Model, table: pd.DataFrame, views: int = 1, stage: str = "photo"
                   ) -> pd.DataFrame:
    """score_table of the table's validation and test rows: what a threshold is chosen on, and reported."""
    return score_table(model, table[table["split"].isin(["val", "test"])], views, stage=stage)
