"""Standard Keras backbones build on one grey channel, train within a wall-time budget, and `make backbones`
measures each on the split's test parts."""

from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

from lib import backbones, narrative, plots, runs, train
from lib.config import BACKBONES_CSV, BACKBONES_SETTINGS, PARAMS_DIR
from lib.evaluate import threshold_metrics
from lib.models import BACKBONES, MODELS, POOLINGS, build_model, load_model
from lib.params import ParamsError, validate_params
from lib.runtime import score_table
from lib.scoring import fast_predictor
from lib.settings import CHOICES
from lib.splits import SPLITS, build_split_table

STANDARD = ["mobilenet_v3_small", "efficientnet_b0", "resnet50"]


@pytest.mark.parametrize("name", STANDARD)
def test_a_standard_backbone_is_untrained_on_one_grey_channel_with_its_batch_norm_in_view(name):
    model = build_model(name, 64)
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 1)
    # flat: the batch-norm layers are the model's own, so PreciseBatchNorm re-estimates them
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)


def test_the_model_names_a_params_file_may_give_are_the_models_that_exist():
    assert set(CHOICES["model_name"]) == set(MODELS) and set(BACKBONES) <= set(MODELS)
    assert set(CHOICES["split"]) == set(SPLITS)
    assert set(CHOICES["pooling"]) == set(POOLINGS)


def test_a_params_file_naming_an_unknown_network_is_refused_with_the_choices():
    declared = {"model_name": {"type": "str", "notebooks": ["03_train.ipynb"]}}
    with pytest.raises(ParamsError, match="p.yaml: parameter 'model_name' must be one of fast_cnn.*resnet50"):
        validate_params({"model_name": "resnet18"}, declared, "p.yaml")


@pytest.mark.parametrize(("budget", "epoch", "epochs"), [(300, 70, 4), (300, 18.5, 16), (300, 570, 1)])
def test_a_budget_gives_the_whole_epochs_that_fit_and_at_least_one(budget, epoch, epochs):
    assert train.epochs_within(budget, epoch) == epochs


def test_backbones_refuses_an_unknown_network_naming_the_choices(tmp_path, capsys):
    assert backbones.main(["--models", "fast_cnn,vgg16", "--outputs", str(tmp_path)]) == 2
    assert "unknown model vgg16; choose from" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing started


@pytest.mark.slow
def test_backbones_measures_each_network_on_the_test_parts_within_the_budget(tmp_path, casting_tree, capsys):
    params = tmp_path / "p.yaml"
    params.write_text(f"extends: {PARAMS_DIR}/grouped.yaml\ndata_dir: {casting_tree}\nimage_size: 32\n"
                      "batch_size: 8\nverbose: 0\nprecise_bn_batches: 2\n")
    assert backbones.main(["--params", str(params), "--models", "fast_cnn,mobilenet_v3_small",
                           "--budget", "0.5", "--outputs", str(tmp_path / "out")]) == 0
    (run,) = (tmp_path / "out").glob("*-backbones")
    table = pd.read_csv(run / BACKBONES_CSV)
    assert list(table["model"]) == ["fast_cnn", "mobilenet_v3_small"] and (table["epochs"] >= 1).all()
    assert json.loads((run / BACKBONES_SETTINGS).read_text())["budget_seconds"] == 0.5
    assert not (run / backbones.PARTIAL).exists()
    split = build_split_table(casting_tree, 0.2, 42, 0, "grouped", 0.1, 0.6, tmp_path / "out" / "cache")
    for _, row in table.iterrows():  # each row is that network's own test figures
        model = load_model(run / row["model"])
        scored = score_table(fast_predictor(model, 8), int(model.input_shape[1]),
                             split[split["split"] == "test"], stage="part")
        m = threshold_metrics(scored["label"], scored["score"], 0.5)
        assert row["test parts"] == m["n"]
        assert (row["missed at 0.5"], row["scrapped at 0.5"]) == (m["fn"], m["fp"])
        assert row["interval low"] <= row["accuracy at 0.5"] <= row["interval high"]
    assert "mobilenet_v3_small" in capsys.readouterr().out


def _study_table() -> pd.DataFrame:
    return pd.DataFrame({"model": ["fast_cnn", "mobilenet_v3_small"], "epochs": [16, 4],
                         "test parts": [700, 700],
                         "accuracy at 0.5": [0.99, 0.93], "interval low": [0.98, 0.90],
                         "interval high": [0.995, 0.95], "missed at 0.5": [3, 20], "scrapped at 0.5": [4, 29],
                         "images/s": [170, 240]})


def test_the_study_sentences_name_the_best_network_its_lead_and_the_fastest():
    settings = {"budget_seconds": 300, "split": "grouped", "seed": 42}
    text = narrative.backbone_sentences(_study_table(), settings, "20261201-backbones")
    assert "fast_cnn is right most often: 99.0%" in text and "6.0 points behind" in text
    assert "overlap" not in text  # 0.95 < 0.98: the intervals are apart
    assert "fastest at inspection is mobilenet_v3_small, 240 images/s" in text
    assert "fast_cnn 16 epochs, mobilenet_v3_small 4 epochs" in text


def test_without_a_study_the_chapter_says_how_to_run_one():
    assert "`make backbones`" in narrative.backbone_sentences(None, None)


def test_the_newest_finished_study_is_found_and_an_unfinished_one_passed_over(tmp_path):
    for name, done in (("20261130-100000-backbones", True), ("20261201-100000-backbones", True),
                       ("20261202-100000-backbones", False)):
        (tmp_path / name).mkdir()
        if done:
            (tmp_path / name / BACKBONES_CSV).write_text("model\n")
    assert runs.newest_finished(tmp_path, "backbones", BACKBONES_CSV).name == "20261201-100000-backbones"
    assert runs.newest_finished(tmp_path / "none", "backbones", BACKBONES_CSV) is None


def test_the_study_figure_puts_each_network_at_its_speed_and_accuracy():
    figure = plots.backbone_figure(_study_table())
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["fast_cnn (16 ep.)", "mobilenet_v3_small (4 ep.)"]
    assert figure.axes[0].get_xscale() == "log"
