"""Train a network with checkpoints, early stopping, a history file and resume after interruption."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import pandas as pd

from lib.models import build_model, compile_model

BEST_MODEL = "best.keras"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
BACKUP_DIR = "train_backup"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution_scope(distribution: str = "default"):
    """The tf.distribute scope to build the model in: 'default' (one device) or 'mirrored' (all GPUs)."""
    import tensorflow as tf

    if distribution == "default":
        return tf.distribute.get_strategy().scope()
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy().scope()
    raise ValueError(f"unknown distribution '{distribution}'; choose 'default' or 'mirrored'")


def cosine_schedule(learning_rate: float, epochs: int, steps_per_epoch: int,
                    warmup_epochs: int = 1) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up for warmup_epochs, then cosine decay to zero by the last epoch."""
    warmup = min(warmup_epochs, max(epochs - 1, 0)) * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10 if warmup else learning_rate,
        decay_steps=max(epochs * steps_per_epoch - warmup, 1),
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup,
    )


def new_model(name: str, image_size: int, learning_rate: float, schedule: str, epochs: int,
              steps_per_epoch: int) -> keras.Model:
    """Build and compile the named network with a constant or cosine learning rate."""
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_schedule '{schedule}'; choose 'constant' or 'cosine'")
    rate = (cosine_schedule(learning_rate, epochs, steps_per_epoch) if schedule == "cosine"
            else learning_rate)
    return compile_model(build_model(name, image_size), learning_rate=rate)


class EpochClock(keras.callbacks.Callback):
    """Adds 'seconds' (training wall time so far, across resumes) to each epoch's logs."""

    def __init__(self, history_csv: Path):
        super().__init__()
        self.history_csv = history_csv
        self.offset = 0.0
        self.start = 0.0

    def on_train_begin(self, logs=None):
        if self.history_csv.exists() and self.history_csv.stat().st_size:
            self.offset = float(pd.read_csv(self.history_csv)["seconds"].iloc[-1])
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = self.offset + time.perf_counter() - self.start


class PreciseBatchNorm(keras.callbacks.Callback):
    """Before each validation, re-estimates batch-norm statistics on a few training batches.

    Under a high learning rate the moving averages lag behind the weights, and validation with
    them can collapse (every part called defective) although the network is fine: "precise BN"
    (Wu and Johnson, 2021) measures the statistics afresh with the current weights.
    """

    def __init__(self, batches, num_batches: int):
        super().__init__()
        self.batches = batches
        self.num_batches = num_batches

    def on_test_begin(self, logs=None):
        has_norm = any(isinstance(layer, keras.layers.BatchNormalization) for layer in self.model.layers)
        if has_norm and self.num_batches:
            for images, _ in self.batches.take(self.num_batches):
                self.model(images, training=True)  # updates the moving statistics, not the weights


def fit_model(model: keras.Model, train_ds, val_ds, run_dir: str | Path, epochs: int,
              patience: int = 5, verbose: int = 2, extra_callbacks: list | None = None,
              precise_bn_batches: int = 0) -> dict:
    """Fit with best-by-val_loss checkpoint, early stopping, CSV/JSON history and resume; summary."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history_csv = run_dir / HISTORY_CSV
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True)
    callbacks = [
        EpochClock(history_csv),
        PreciseBatchNorm(train_ds, precise_bn_batches),
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR)),
        keras.callbacks.ModelCheckpoint(str(run_dir / BEST_MODEL), monitor="val_loss",
                                        save_best_only=True),
        stopper,
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        *(extra_callbacks or []),
    ]
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=verbose,
              shuffle=False)  # the tf.data pipeline shuffles
    history = pd.read_csv(history_csv)
    history.to_json(run_dir / HISTORY_JSON, orient="records", indent=1)
    best = int(history["val_loss"].idxmin())
    summary = {
        "epochs_run": len(history),
        "best_epoch": int(history["epoch"][best]) + 1,
        "best_val_loss": float(history["val_loss"][best]),
        "best_val_accuracy": float(history["val_accuracy"][best]),
        "train_seconds": float(history["seconds"].iloc[-1]),
        "stopped_early": bool(stopper.stopped_epoch),
        "model_path": str(run_dir / BEST_MODEL),
    }
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def why_stopped(summary: dict, patience: int, epochs: int) -> str:
    """One sentence on the best epoch and why training ended."""
    reason = (f"stopped early: validation loss had not improved for {patience} epochs"
              if summary["stopped_early"] else f"ran all {epochs} epochs")
    return (f"Best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(validation loss {summary['best_val_loss']:.4f}, accuracy "
            f"{summary['best_val_accuracy']:.2%}); training {reason}, in "
            f"{summary['train_seconds']:.0f} s of wall time.")


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


def training_datasets(table: pd.DataFrame, image_size: int, batch_size: int, augmentation: dict,
                      seed: int):
    """Decode the train and val images once; return (train_ds augmented+shuffled, val_ds, steps)."""
    from lib.augment import build_augmentation
    from lib.data import load_images, make_dataset

    train_images, train_table = load_images(table[table["split"] == "train"], image_size)
    val_images, val_table = load_images(table[table["split"] == "val"], image_size)
    train_ds = make_dataset(train_images, train_table["label"].to_numpy(), batch_size, shuffle=True,
                            seed=seed, augment=build_augmentation(augmentation, seed))
    val_ds = make_dataset(val_images, val_table["label"].to_numpy(), batch_size)
    return train_ds, val_ds, -(-len(train_images) // batch_size)
