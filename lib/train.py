"""Train a network: the tf.data pipeline, checkpoints, early stopping, history, resume, the recipe."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from lib import part
from lib.augment import build_augmentation, camera_change_moving, camera_config, check_augmentation, mix_pairs
from lib.config import BEST_MODEL, RECIPE, TRAIN_SUMMARY
from lib.data import load_images, load_photos_with_parts, network_input
from lib.models import FAST_CNN_WIDTH, POOLINGS, averaged, build_model, compile_model, load_model
from lib.progress import step
from lib.splits import load_table

HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
PHOTO_PX = 300  # the most photo pixels a side kept for camera changes
RECIPE_KEYS = ("seed", "subset", "val_fraction", "near_twin_cutoff", "image_size", "batch_size",
               "augmentation", "model_name", "width", "epochs", "learning_rate", "lr_schedule", "patience",
               "precise_bn_batches", "input_stage", "ema_momentum", "weight_decay", "networks",
               "later_augmentation", "pooling", "label_smoothing")
BACKUP_DIR = "train_backup"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution_scope(distribution: str = "default"):
    """The tf.distribute scope to build the model in: 'default' (one device) or 'mirrored' (all GPUs)."""
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
              steps_per_epoch: int, width: int = FAST_CNN_WIDTH, ema_momentum: float = 0.0,
              weight_decay: float = 0.0, pooling: str = POOLINGS[0], label_smoothing: float = 0.0
              ) -> keras.Model:
    """Build and compile the named network (fast_cnn width channels wide, pooled by pooling) with a constant
    or cosine learning rate (a moving average of its weights when ema_momentum > 0; weight_decay: Adam's,
    decoupled; label_smoothing: the loss's targets drawn that far towards 0.5)."""
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_schedule '{schedule}'; choose 'constant' or 'cosine'")
    rate = (cosine_schedule(learning_rate, epochs, steps_per_epoch) if schedule == "cosine"
            else learning_rate)
    return compile_model(build_model(name, image_size, width, pooling), learning_rate=rate,
                         ema_momentum=ema_momentum, weight_decay=weight_decay,
                         label_smoothing=label_smoothing)


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


class StepProgress(keras.callbacks.Callback):
    """Says each training batch to lib.progress, for the report runner's bar (a no-op elsewhere)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step(f"training, epoch {self.epoch + 1}/{self.params['epochs']}", batch + 1,
             self.params.get("steps") or batch + 1, "batch")


class PreciseBatchNorm(keras.callbacks.Callback):
    """Before each validation, re-estimates batch-norm statistics on a few training batches.

    Under a high learning rate the moving averages lag behind the weights, and validation with
    them can collapse (every part called defective) although the network is fine: "precise BN"
    (Wu and Johnson, 2021) measures the statistics afresh with the current weights: each layer's become
    the plain average of the batches' own, whatever its momentum (0.9 in ours; 0.99 to 0.999 in the
    keras.applications networks, whose averages would move only a few per cent in 30 batches). The
    forward passes run as one compiled function.
    """

    def __init__(self, batches, num_batches: int):
        super().__init__()
        self.batches = batches
        self.num_batches = num_batches
        self.forward = None

    def on_test_begin(self, logs=None):
        norms = [layer for layer in self.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        if not norms or not self.num_batches:
            return
        momenta = [layer.momentum for layer in norms]
        for layer in norms:
            layer.momentum = 0.0  # a pass leaves each layer holding that batch's own statistics
        if self.forward is None:  # traced once, with momentum 0
            self.forward = tf.function(lambda images: self.model(images, training=True))
        try:
            sums, count = [[0.0, 0.0] for _ in norms], 0
            for images, _ in self.batches.take(self.num_batches):
                self.forward(images)
                for total, layer in zip(sums, norms):
                    total[0] += layer.moving_mean.numpy()
                    total[1] += layer.moving_variance.numpy()
                count += 1
            for (mean, variance), layer in zip(sums, norms):
                layer.moving_mean.assign(mean / count)
                layer.moving_variance.assign(variance / count)
        finally:
            for layer, momentum in zip(norms, momenta):
                layer.momentum = momentum


def fit_model(model: keras.Model, train_ds, val_ds, run_dir: str | Path, epochs: int,
              patience: int = 5, verbose: int = 2, extra_callbacks: list | None = None,
              precise_bn_batches: int = 0) -> dict:
    """Fit with best-by-val_loss checkpoint, early stopping, CSV/JSON history and resume; summary."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history_csv = run_dir / HISTORY_CSV
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True)
    # with a moving average of the weights, it is what is validated (batch norm re-estimated for it after the
    # swap), checkpointed and kept; the backup, saved before the swap, holds the weights being trained
    averaged = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if model.optimizer.use_ema else []
    callbacks = [
        EpochClock(history_csv),
        StepProgress(),
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR)),
        *averaged,
        PreciseBatchNorm(train_ds, precise_bn_batches),
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
    (run_dir / TRAIN_SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary


def training_datasets(table: pd.DataFrame, image_size: int, batch_size: int, augmentation: dict,
                      seed: int, stage: str = "photo"):
    """Decode the train and val images once; return (train_ds augmented+shuffled, val_ds, steps)."""
    val_images, val_table = load_images(table[table["split"] == "val"], image_size, stage=stage)
    train_ds, count = training_dataset(table[table["split"] == "train"], image_size, batch_size, augmentation,
                                       seed, stage)
    val_ds = make_dataset(val_images, val_table["label"].to_numpy(), batch_size)
    return train_ds, val_ds, -(-count // batch_size)


def training_dataset(rows: pd.DataFrame, image_size: int, batch_size: int, augmentation: dict, seed: int,
                     stage: str = "photo"):
    """The training pipeline for these rows, as training and chapter 2 see it: (dataset, photos in it)."""
    camera = camera_config(augmentation)
    if camera:  # photos kept as scored (PHOTO_PX), each part found once; the camera changes run every epoch
        if stage == "part":
            photos, circles, kept = load_photos_with_parts(rows, PHOTO_PX)
        else:
            photos, kept = load_images(rows, PHOTO_PX)
            circles = [None] * len(photos)
        dataset = camera_dataset(photos, circles, kept["label"].to_numpy(), batch_size, image_size, stage,
                                 camera, seed, build_augmentation(augmentation, seed))
        count = len(photos)
    else:
        images, kept = load_images(rows, image_size, stage=stage)
        dataset = make_dataset(images, kept["label"].to_numpy(), batch_size, shuffle=True, seed=seed,
                               augment=build_augmentation(augmentation, seed))
        count = len(images)
    alpha = check_augmentation(augmentation)["mixup"]
    if alpha:  # pairs blended last, on the network's input; batch norm is re-measured on such batches too
        dataset = dataset.map(mix_pairs(alpha, seed), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    return dataset, count


def camera_dataset(photos: np.ndarray, circles: list, labels: np.ndarray, batch_size: int, size: int,
                   stage: str, camera: dict, seed: int, augment=None):
    """tf.data pipeline: new camera changes drawn for every photo in every epoch, then the input stage (at
    the part stage, cut around the photo's circle as the change moved it), then the network-level
    augmentation; [0, 1] float batches (N, size, size, 1)."""
    def change(indices: np.ndarray, draws: np.ndarray) -> np.ndarray:  # a batch at a time: fewer calls
        out = np.empty((len(indices), size, size), np.uint8)
        for row, (index, draw) in enumerate(zip(indices, draws)):
            photo, circle = photos[index], circles[index]
            changed, moved = camera_change_moving(photo, circle, camera, np.random.default_rng(int(draw)))
            out[row] = (network_input(changed, size) if stage == "photo"
                        else part.centre_part(changed, moved, size))
        return out

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(photos)), labels.astype("float32")))
    ds = ds.shuffle(len(photos), seed=seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, draws)).batch(batch_size).map(
        lambda pair, draw: (tf.numpy_function(change, [pair[0], draw], tf.uint8), pair[1]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(lambda x, y: (tf.reshape(tf.cast(x, tf.float32) / 255.0, (-1, size, size, 1)), y))
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    # no tf.data autotuning: with it, freeing an epoch's iterator of this pipeline took up to 10 s in a
    # quarter of the epochs; the batches are the same either way, and the default trained in 203 and 264 s
    # without it, 278 s with it, in turns (2026-12-07, README "The networks, and how fast they train")
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment=None,
):
    """tf.data pipeline: (N,H,W) uint8 -> cached [0,1] float batches (N,H,W,1), optional augment."""
    ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels.astype("float32")))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def seconds_per_epoch(model: keras.Model, train_ds, val_ds, steps: int, precise_bn_batches: int = 0,
                      probe: int = 6) -> float:
    """Estimated wall seconds of one epoch of model.fit: `probe` training steps (input pipeline included),
    the batch-norm re-estimation and validation batches, each timed after one to compile (it trains)."""
    def seconds_each(run, batches) -> float:
        items = iter(batches)
        run(next(items))  # compiles
        start, count = time.perf_counter(), 0
        for item in items:
            run(item)
            count += 1
        return (time.perf_counter() - start) / max(count, 1)

    per_step = seconds_each(lambda batch: model.train_on_batch(*batch), train_ds.take(probe + 1))
    per_val = seconds_each(lambda batch: model.predict_on_batch(batch[0]), val_ds.take(probe + 1))
    precise = PreciseBatchNorm(train_ds, 1)
    precise.set_model(model)
    per_norm = seconds_each(lambda _: precise.on_test_begin(), range(probe + 1)) if precise_bn_batches else 0
    val_steps = int(val_ds.cardinality()) if int(val_ds.cardinality()) > 0 else probe
    return steps * per_step + val_steps * per_val + precise_bn_batches * per_norm


def epochs_within(budget_seconds: float, epoch_seconds: float) -> int:
    """The most whole epochs that fit in a wall-time budget; at least one."""
    return max(1, int(budget_seconds // max(epoch_seconds, 1e-9)))


def train_recipe(p: dict, out: Path, table: pd.DataFrame | None = None, budget_seconds: float | None = None
                 ) -> tuple[keras.Model, pd.DataFrame, dict]:
    """Train one full recipe (a resolved params dict) into out/; the best model, the split and the summary.

    The split table is built from the params unless one is given (cross-validation gives its folds). With a
    wall-time budget, the epochs are as many as a trial of a few batches (not counted as training) says fit
    in it, at least one, in place of the recipe's, and the cosine schedule is laid over them. With networks
    above 1, each network trains in out/network-<n>/ (the first exactly as a lone one would, the others with
    seeds MEMBER_SEED_STEP apart and later_augmentation when given; one finished before an interruption is
    kept), the budget shared among them, and out/best.keras is their mean (models.averaged).
    """
    set_seed(p["seed"])
    if table is None:
        table = load_table(p["data_dir"] or None, p["val_fraction"], p["seed"], p["subset"], p["split"],
                           p["test_fraction"], p["near_twin_cutoff"])
    share = None if budget_seconds is None else budget_seconds / p["networks"]
    several = p["networks"] > 1
    summary = train_network(p, first_network_dir(out, p["networks"]), table, share, done_kept=several)
    summary = more_networks(out, summary, table, p, share) if several else summary
    save_recipe(out, recipe_of(p))
    return load_model(out), table, summary


MEMBER_SEED_STEP = 1000  # the n-th of several networks trains with the recipe's seed + (n - 1) x this


def member_seed(seed: int, number: int) -> int:
    """The seed of the number-th (from 1) of a recipe's networks: the first has the recipe's own."""
    return seed + (number - 1) * MEMBER_SEED_STEP


def member_augmentation(p: dict, number: int) -> dict:
    """The augmentation the number-th (from 1) of a recipe's networks trains with: later_augmentation for the
    second on when it is given (not empty), else the recipe's augmentation."""
    return p["later_augmentation"] if number > 1 and p["later_augmentation"] else p["augmentation"]


def member_dir(out: str | Path, number: int) -> Path:
    """Where the number-th (from 1) of a run's several networks trains: out/network-<number>/."""
    return Path(out) / f"network-{number}"


def first_network_dir(out: str | Path, networks: int) -> Path:
    """Where a run's first (or only) network trains, its history.csv with it: out/, or out/network-1/."""
    return Path(out) if networks == 1 else member_dir(out, 1)


def more_networks(out: Path, first: dict, table: pd.DataFrame, p: dict, budget_seconds: float | None = None
                  ) -> dict:
    """Train the recipe p's networks after the first (whose summary is given) into out/network-<n>/, each
    with its own seed and augmentation (a finished one kept), and save their mean as out/best.keras; the
    mean's summary."""
    summaries = [first] + [train_network({**p, "seed": member_seed(p["seed"], n),
                                          "augmentation": member_augmentation(p, n)},
                                         member_dir(out, n), table, budget_seconds, done_kept=True)
                           for n in range(2, p["networks"] + 1)]
    return save_averaged(out, summaries, table, p)


def train_network(p: dict, out: Path, table: pd.DataFrame, budget_seconds: float | None = None,
                  done_kept: bool = False) -> dict:
    """Train one network of the recipe p (its seed: first weights, augmentation, batch order) on the split
    table into out/; its summary. done_kept: a network whose summary is there already is kept, not trained."""
    if done_kept and (Path(out) / TRAIN_SUMMARY).is_file():
        return json.loads((Path(out) / TRAIN_SUMMARY).read_text())
    set_seed(p["seed"])
    train_ds, val_ds, steps = training_datasets(table, p["image_size"], p["batch_size"],
                                                p["augmentation"], p["seed"], p["input_stage"])
    estimate = None
    if budget_seconds is not None:
        trial = new_model(p["model_name"], p["image_size"], p["learning_rate"], "constant", 1, steps,
                          p["width"], p["ema_momentum"], p["weight_decay"], p["pooling"],
                          p["label_smoothing"])
        estimate = seconds_per_epoch(trial, train_ds, val_ds, steps, p["precise_bn_batches"])
        p = {**p, "epochs": epochs_within(budget_seconds, estimate)}
        set_seed(p["seed"])  # the trial drew random numbers: the first weights are as without a budget
    model = new_model(p["model_name"], p["image_size"], p["learning_rate"], p["lr_schedule"],
                      p["epochs"], steps, p["width"], p["ema_momentum"], p["weight_decay"], p["pooling"],
                      p["label_smoothing"])
    summary = fit_model(model, train_ds, val_ds, out, p["epochs"], p["patience"], p["verbose"],
                        precise_bn_batches=p["precise_bn_batches"])
    if estimate is not None:
        summary = {**summary, "epoch_seconds_estimated": estimate, "budget_seconds": budget_seconds}
        (Path(out) / TRAIN_SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary


def save_averaged(out: Path, summaries: list[dict], table: pd.DataFrame, p: dict) -> dict:
    """Save the mean of the run's networks (out/network-<n>/) as out/best.keras, measured on the validation
    split; its summary (the members' epochs, their training seconds summed, the mean's validation figures)."""
    model = averaged([load_model(member_dir(out, number)) for number in range(1, len(summaries) + 1)])
    val_images, val_table = load_images(table[table["split"] == "val"], p["image_size"],
                                        stage=p["input_stage"])
    labels = val_table["label"].to_numpy().astype("float32")
    scores = model.predict(make_dataset(val_images, labels, p["batch_size"]), verbose=0)[:, 0]
    val_loss = float(keras.ops.mean(keras.losses.binary_crossentropy(labels[:, None], scores[:, None])))
    partial = Path(out) / f"partial-{BEST_MODEL}"
    model.save(partial)
    partial.replace(Path(out) / BEST_MODEL)  # whole or not at all
    first = summaries[0]
    summary = {
        "networks": len(summaries),
        "epochs_run": first["epochs_run"],
        "best_epoch": first["best_epoch"],
        "best_val_loss": val_loss,
        "best_val_accuracy": float(np.mean((scores >= 0.5) == (labels == 1))),
        "train_seconds": float(sum(s["train_seconds"] for s in summaries)),
        "stopped_early": any(s["stopped_early"] for s in summaries),
        "model_path": str(Path(out) / BEST_MODEL),
        "members": summaries,
    }
    (Path(out) / TRAIN_SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary


def recipe_of(params: dict) -> dict:
    """The settings that shape a trained network (RECIPE_KEYS, and the part stage's version), from params."""
    recipe = {k: params[k] for k in RECIPE_KEYS}
    return {**recipe, "stage_version": part.VERSION if recipe["input_stage"] == "part" else "photo"}


def save_recipe(run_dir: str | Path, recipe: dict) -> dict:
    """Write the run's recipe.json (with the stage's version); ValueError naming a wrong setting."""
    given = {k: v for k, v in recipe.items() if k != "stage_version"}  # recipe_of's own, made again here
    if set(given) != set(RECIPE_KEYS):
        raise ValueError(f"a recipe has exactly {', '.join(RECIPE_KEYS)}; got {', '.join(sorted(given))}")
    recipe = recipe_of(given)
    (Path(run_dir) / RECIPE).write_text(json.dumps(recipe, indent=2))
    return recipe
