"""Networks build, train one epoch with checkpoints and history, repeat with a seed, and resume."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from lib import train
from lib.data import load_images, scan_dataset
from lib.models import (
    BACKBONES,
    FAST_CNN_WIDTH,
    MODELS,
    POOLINGS,
    averaged,
    build_model,
    load_model,
    members_of,
)
from lib.narrative import why_stopped
from lib.params import default_params
from lib.train import make_dataset


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_gives_one_score_per_image_and_the_saved_model_the_same_scores(name, tmp_path):
    model = build_model(name, 96)
    images = np.random.default_rng(0).random((3, 96, 96, 1)).astype("float32")
    scores = model.predict(images, verbose=0)
    assert scores.shape == (3, 1)
    if name not in BACKBONES[1:]:  # untrained, a standard backbone's unmeasured batch norm gives all 0.5
        assert len(np.unique(scores)) == 3  # each image its own score
    model.save(tmp_path / "best.keras")
    assert np.allclose(load_model(tmp_path).predict(images, verbose=0), scores, atol=1e-6)


def test_seed_baseline_is_the_seed_network():
    model = build_model("seed_baseline", 300)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
                     "Dropout", "Dense", "Dropout", "Dense"]
    # 300 -> conv s2 149 -> pool 74 -> conv s2 36 -> pool 18: flatten 18 * 18 * 16
    assert model.count_params() == (9 + 1) * 32 + (9 * 32 + 1) * 16 + (18 * 18 * 16 + 1) * 128 \
        + (128 + 1) * 64 + (64 + 1)


def test_fast_cnn_is_as_wide_as_the_width_asked_and_doubles_it_at_each_stage():
    convs = [layer.filters for layer in build_model("fast_cnn", 32, width=4).layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [4, 8, 8, 16, 16, 32, 32]
    assert build_model("fast_cnn", 32).layers[1].filters == FAST_CNN_WIDTH == default_params()["width"]
    assert POOLINGS[0] == default_params()["pooling"]  # fast_cnn's own pooling is the default's
    assert train.new_model("fast_cnn", 32, 1e-3, "constant", 1, 1, width=6).layers[1].filters == 6
    seed = build_model("seed_baseline", 64)  # the other networks have their own widths
    assert build_model("seed_baseline", 64, width=4).count_params() == seed.count_params()


def test_avgmax_pooling_lets_one_small_bright_spot_move_the_score_more_than_averaging_alone():
    averaged_only, with_max = (build_model("fast_cnn", 32, width=4, pooling=p) for p in ("avg", "avgmax"))
    assert with_max.get_layer("pool_avgmax").output.shape[-1] == 2 * 32  # the mean and max of each channel
    assert averaged_only.count_params() + 32 == with_max.count_params()  # only the sigmoid's inputs doubled
    flat, spot = np.zeros((1, 32, 32, 1)), np.zeros((1, 32, 32, 1))
    spot[0, 14:16, 14:16] = 1.0
    for layer in averaged_only.layers:  # the same convolutions, so only the pooling differs
        if layer.weights and layer.name != "defect":
            layer.set_weights(with_max.get_layer(layer.name).get_weights())
    for model in (averaged_only, with_max):  # the sigmoid weighs every input alike
        dense = model.get_layer("defect")
        dense.set_weights([np.ones_like(dense.get_weights()[0]), np.zeros(1)])
    moved = [float(m.predict(spot, verbose=0)[0, 0] - m.predict(flat, verbose=0)[0, 0])
             for m in (averaged_only, with_max)]
    assert abs(moved[1]) > abs(moved[0])
    with pytest.raises(ValueError, match="unknown pooling 'sum'; choose one of: avg, avgmax"):
        build_model("fast_cnn", 32, pooling="sum")


def test_label_smoothing_charges_a_sure_right_score_and_leaves_the_default_loss_plain():
    smoothed = train.new_model("fast_cnn", 32, 1e-3, "constant", 1, 1, width=4, label_smoothing=0.1)
    sure = np.array([[0.9999]], dtype="float32")
    charged = float(smoothed.loss(np.array([[1.0]], dtype="float32"), sure))
    expected = -(0.95 * np.log(0.9999) + 0.05 * np.log(1 - 0.9999))  # the target 1 drawn to 0.95
    assert charged == pytest.approx(expected, rel=1e-3) and charged > 0.4
    assert train.new_model("fast_cnn", 32, 1e-3, "constant", 1, 1, width=4).loss == "binary_crossentropy"


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*fast_cnn"):
        build_model("resnet", 64)


def test_compile_passes_metrics_as_metrics():
    model = train.new_model("fast_cnn", 32, 1e-3, "cosine", 2, 3)
    assert model.loss == "binary_crossentropy"
    history = model.fit(np.zeros((4, 32, 32, 1)), np.zeros(4), epochs=1, verbose=0)
    assert {"loss", "accuracy", "recall", "auc"} <= set(history.history)


def _datasets(tree, size=32):
    table = scan_dataset(tree)
    images, kept = load_images(table, size)
    labels = kept.label.to_numpy()
    train_ds = make_dataset(images, labels, 8, shuffle=True, seed=1)
    return train_ds, make_dataset(images, labels, 8), images


def _train(tree, out, epochs=1, seed=7, callbacks=None, ema_momentum=0.0):
    train.set_seed(seed)
    train_ds, val_ds, images = _datasets(tree)
    model = train.new_model("fast_cnn", 32, 1e-3, "cosine", epochs, 7, ema_momentum=ema_momentum)
    summary = train.fit_model(model, train_ds, val_ds, out, epochs, verbose=0,
                              extra_callbacks=callbacks, precise_bn_batches=2)
    return model, summary, images


def test_one_epoch_writes_checkpoint_and_history(casting_tree, tmp_path):
    _, summary, _ = _train(casting_tree, tmp_path / "run")
    assert (tmp_path / "run" / "best.keras").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 1 and {"loss", "val_loss", "val_accuracy", "seconds"} <= set(history[0])
    assert summary["epochs_run"] == 1 and summary["best_epoch"] == 1
    assert isinstance(load_model(tmp_path / "run"), keras.Model)


def test_same_seed_gives_identical_predictions(casting_tree, tmp_path):
    first, _, images = _train(casting_tree, tmp_path / "a")
    second, _, _ = _train(casting_tree, tmp_path / "b")
    x = images[..., None] / 255.0
    assert np.array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))


def test_with_a_moving_average_the_averaged_weights_are_validated_and_kept(casting_tree, tmp_path):
    _, summary, _ = _train(casting_tree, tmp_path / "ema", epochs=3, ema_momentum=0.9)
    _, plain, _ = _train(casting_tree, tmp_path / "plain", epochs=3)
    _, val_ds, _ = _datasets(casting_tree)
    kept = load_model(tmp_path / "ema")
    assert kept.evaluate(val_ds, verbose=0)[0] == pytest.approx(summary["best_val_loss"], abs=1e-5)
    assert summary["best_val_loss"] != pytest.approx(plain["best_val_loss"], abs=1e-4)  # it did average


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_weight_decay_shrinks_each_weight_by_decay_times_the_learning_rate_at_each_step(decay):
    model = train.new_model("fast_cnn", 32, 0.1, "constant", 1, 1, width=4, weight_decay=decay)
    kernel = model.get_layer("defect").kernel
    before = np.array(kernel)
    model.optimizer.apply([np.zeros_like(before)], [kernel])  # no gradient: Adam moves nothing, decay alone
    np.testing.assert_allclose(np.array(kernel), before * (1 - decay * 0.1), rtol=1e-6)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_from_saved_epoch(casting_tree, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train(casting_tree, out, epochs=4, callbacks=[_Interrupt()])
    _, summary, _ = _train(casting_tree, out, epochs=4)
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]  # epochs 0-1, then 2-3 on resume
    assert summary["epochs_run"] == 4


def test_load_model_names_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model at .*nothing"):
        load_model(tmp_path / "nothing")
    bad = tmp_path / "model.keras"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="model.keras is not a Keras model"):
        load_model(bad)


@pytest.mark.skipif(not __import__("tensorflow").config.list_physical_devices("GPU"),
                    reason="MirroredStrategy is tested only where a GPU is present")
def test_mirrored_distribution_builds_the_model():
    with train.distribution_scope("mirrored"):
        model = build_model("fast_cnn", 32)
    assert model.output_shape == (None, 1)


@pytest.mark.parametrize("name", ["fast_cnn", "mobilenet_v3_small"])  # momentum 0.9 and 0.999
def test_precise_batch_norm_measures_statistics_for_the_current_weights(name):
    import tensorflow as tf

    model = build_model(name, 32)
    pooled = keras.Model(model.input, model.layers[-3].output)  # the pooled features
    batch = np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 1)).astype("float32")
    lagging = np.abs(pooled(batch, training=False) - pooled(batch, training=True)).max()
    callback = train.PreciseBatchNorm(tf.data.Dataset.from_tensors((batch, np.zeros(8))).repeat(), 80)
    callback.set_model(model)
    callback.on_test_begin()
    measured = np.abs(pooled(batch, training=False) - pooled(batch, training=True)).max()
    assert measured < 0.05 * lagging
    assert {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} \
        == {0.9 if name == "fast_cnn" else 0.999}  # each layer's own momentum back for training


def test_averaged_networks_score_the_mean_of_their_scores_and_are_saved_and_loaded_whole(tmp_path):
    members = [build_model("fast_cnn", 32, width=4) for _ in range(2)]
    images = np.random.default_rng(1).random((5, 32, 32, 1)).astype("float32")
    each = [m.predict(images, verbose=0) for m in members]
    assert not np.allclose(*each)  # two networks, two first weights
    mean = averaged(members)
    assert np.allclose(mean.predict(images, verbose=0), (each[0] + each[1]) / 2, atol=1e-6)
    mean.save(tmp_path / "best.keras")
    loaded = load_model(tmp_path)
    assert np.allclose(loaded.predict(images, verbose=0), (each[0] + each[1]) / 2, atol=1e-6)
    assert [m.name for m in members_of(loaded)] == ["network_1", "network_2"]
    assert members_of(members[0]) == [members[0]]  # a lone network is its own one member


def _recipe(tree, **changes):
    return {**default_params(), "data_dir": str(tree), "image_size": 32, "batch_size": 8, "epochs": 1,
            "verbose": 0, "augmentation": {"horizontal_flip": True}, "width": 4, "precise_bn_batches": 2,
            **changes}


def test_two_networks_train_with_their_own_seeds_and_the_run_keeps_their_mean(casting_tree, tmp_path):
    model, table, summary = train.train_recipe(_recipe(casting_tree, networks=2), tmp_path / "two")
    first = load_model(tmp_path / "two" / "network-1")
    lone, _, _ = train.train_recipe(_recipe(casting_tree), tmp_path / "one", table=table)
    images = np.random.default_rng(2).random((4, 32, 32, 1)).astype("float32")
    # the first is the lone network of the recipe, to the bit; the second has its own seed
    assert np.array_equal(first.predict(images, verbose=0), lone.predict(images, verbose=0))
    second = load_model(tmp_path / "two" / "network-2")
    assert not np.allclose(first.predict(images, verbose=0), second.predict(images, verbose=0))
    both = (first.predict(images, verbose=0) + second.predict(images, verbose=0)) / 2
    assert np.allclose(model.predict(images, verbose=0), both, atol=1e-6)
    assert summary["networks"] == 2 and len(summary["members"]) == 2
    assert summary["train_seconds"] == pytest.approx(sum(m["train_seconds"] for m in summary["members"]))
    assert json.loads((tmp_path / "two" / "recipe.json").read_text())["networks"] == 2
    # run again (as after an interruption): the finished networks are kept, not trained again
    kept = (tmp_path / "two" / "network-2" / "best.keras").stat().st_mtime_ns
    train.train_recipe(_recipe(casting_tree, networks=2), tmp_path / "two", table=table)
    assert (tmp_path / "two" / "network-2" / "best.keras").stat().st_mtime_ns == kept


def test_later_networks_train_with_later_augmentation_and_the_first_with_the_recipes(
        casting_tree, tmp_path, monkeypatch):
    seen, real = [], train.training_datasets

    def recorded(table, size, batch, augmentation, seed, stage):
        seen.append((augmentation, seed))
        return real(table, size, batch, augmentation, seed, stage)

    monkeypatch.setattr(train, "training_datasets", recorded)
    later = {"vertical_flip": True, "brighter": 0.5}
    train.train_recipe(_recipe(casting_tree, networks=3, later_augmentation=later), tmp_path / "three")
    assert seen == [({"horizontal_flip": True}, 42), (later, 1042), (later, 2042)]
    assert json.loads((tmp_path / "three" / "recipe.json").read_text())["later_augmentation"] == later
    assert train.member_augmentation({"augmentation": {"rot90": True}, "later_augmentation": {}}, 2) \
        == {"rot90": True}  # none given: every network trains with the recipe's


def test_the_chapter_sentence_names_each_networks_training_and_their_means_validation():
    member = {"best_epoch": 3, "epochs_run": 4, "best_val_loss": 0.2, "best_val_accuracy": 0.9,
              "train_seconds": 10.0, "stopped_early": False}
    assert why_stopped(member, 5, 4).startswith("Best epoch 3 of 4 (validation loss 0.2000, accuracy 90.00%)")
    both = {"networks": 2, "members": [member, {**member, "best_epoch": 4}], "best_val_loss": 0.1,
            "best_val_accuracy": 0.95, "train_seconds": 20.0}
    text = why_stopped(both, 5, 4)
    assert text.startswith("Network 1: best epoch 3 of 4") and "; network 2: best epoch 4 of 4" in text
    assert "mean of their 2 scores" in text and "accuracy 95.00%" in text
    assert "20 s of training in all" in text
