"""Parameter files are checked against the notebooks' parameters cells before anything runs."""

from __future__ import annotations

import ast
import json
import re

import papermill
import pytest

from lib.config import NOTEBOOKS_DIR
from lib.params import (
    RUNNER_SET,
    ParamsError,
    chapter_notebooks,
    declared_parameters,
    default_params,
    load_params,
    resolve_params,
    validate_params,
)
from lib.report import main as report_main

CHAPTERS = chapter_notebooks(NOTEBOOKS_DIR)

DECLARED = {
    "epochs": {"type": "int", "notebooks": ["03_train.ipynb"]},
    "val_fraction": {"type": "float", "notebooks": ["01_explore.ipynb"]},
    "augmentation": {"type": "dict", "notebooks": ["02_augmentation_gallery.ipynb"]},
}


def test_unknown_key_names_key_and_file():
    with pytest.raises(ParamsError, match=r"params/x.yaml: unknown parameter 'epoch'"):
        validate_params({"epoch": 3}, DECLARED, "params/x.yaml")


@pytest.mark.parametrize("key, value", [("epochs", "ten"), ("epochs", 2.5), ("epochs", True),
                                        ("val_fraction", "0.2"), ("augmentation", [1])])
def test_wrong_type_names_key_type_and_file(key, value):
    with pytest.raises(ParamsError, match=rf"params/x.yaml: parameter '{key}' must be"):
        validate_params({key: value}, DECLARED, "params/x.yaml")


def test_int_is_accepted_where_float_is_declared():
    costs = {**DECLARED, "cost_missed_defect": {"type": "float", "notebooks": ["04_evaluate.ipynb"]}}
    validate_params({"cost_missed_defect": 50, "epochs": 4}, costs, "params/x.yaml")


def test_params_file_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="list.yaml: must be a mapping"):
        load_params(path)


def test_every_shipped_params_file_fits_the_notebooks():
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    declared = declared_parameters(notebooks)
    assert {"data_dir", "run_dir", "seed", "subset"} <= set(declared)
    for path in sorted((NOTEBOOKS_DIR.parent / "params").glob("*.yaml")):
        validate_params(load_params(path), declared, path)
    with pytest.raises(ParamsError, match="unknown parameter 'run_dir'"):  # the runner sets it
        validate_params({"run_dir": "x"}, declared, "params/x.yaml")
    with pytest.raises(ParamsError, match="unknown parameter 'run_dir'"):  # the runner sets it
        validate_params({"run_dir": "x"}, declared, "params/x.yaml")


def test_extends_applies_the_named_file_first_then_this_one(tmp_path):
    (tmp_path / "base.yaml").write_text("epochs: 16\nseed: 42\n")
    (tmp_path / "mine.yaml").write_text("extends: base.yaml\nepochs: 2\n")
    assert load_params(tmp_path / "mine.yaml") == {"epochs": 2, "seed": 42}


def test_extends_in_a_circle_is_named(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ParamsError, match="goes round in a circle"):
        load_params(tmp_path / "a.yaml")


def test_extends_a_missing_file_names_it(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ParamsError, match="params file not found: .*nowhere.yaml"):
        load_params(tmp_path / "a.yaml")


def test_a_params_file_is_read_over_the_defaults_and_checked_whole(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("epochs: 2\n")
    resolved = resolve_params(mine)
    assert resolved == {**default_params(), "epochs": 2}
    mine.write_text("epochs: 2\nlearning_rat: 0.1\n")
    with pytest.raises(ParamsError, match="mine.yaml: unknown parameter 'learning_rat'"):
        resolve_params(mine)


def test_grouped_params_differ_from_the_defaults_only_in_the_split():
    grouped = resolve_params(NOTEBOOKS_DIR.parent / "params" / "grouped.yaml")
    assert {k for k, v in grouped.items() if default_params()[k] != v} == {"split"}


def _code_outside_parameters(notebook) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells
                     if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", []))


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_parameters_cell_default_equals_the_default_file(notebook):
    values = {k: ast.literal_eval(v["default"]) for k, v in papermill.inspect_notebook(str(notebook)).items()}
    defaults = {**default_params(), "run_dir": ""}
    differ = {k: (v, defaults.get(k, "absent")) for k, v in values.items() if defaults.get(k, object()) != v}
    assert not differ, f"{notebook.name} (value, params/default.yaml): {differ}"


def test_the_default_file_holds_every_parameter_a_chapter_declares():
    declared = set(declared_parameters(CHAPTERS)) - set(RUNNER_SET)
    assert declared == set(default_params())


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_declares_only_the_parameters_it_uses(notebook):
    code = _code_outside_parameters(notebook)
    unused = [name for name in declared_parameters([notebook]) if not re.search(rf"\b{name}\b", code)]
    assert not unused, f"{notebook.name} declares {unused} but never uses them"


@pytest.mark.parametrize("text, message", [
    ("epochs: -3\n", r"parameter 'epochs' must be from 1 to 1000, got -3"),
    ("image_size: 0\n", r"parameter 'image_size' must be from 16 to 1024, got 0"),
    ("batch_size: 0\n", r"parameter 'batch_size' must be from 1 to 4096, got 0"),
    ("augmentation:\n  rotaion: 10\n", r"unknown augmentation rotaion under 'augmentation'"),
    ("networks: 2\nlater_augmentation:\n  britgher: 0.5\n",
     r"unknown augmentation britgher under 'later_augmentation'"),
    ("later_augmentation:\n  brighter: 0.5\n",
     r"'later_augmentation' is for the networks after the first, but 'networks' is 1: set networks to 2"),
    ("review_low: 0.9\nreview_high: 0.1\n", r"review_low \(0.9\) is above review_high \(0.1\)"),
    ("epochs: 3\nepochs: 4\n", r"not valid YAML: .*'epochs' is given twice"),
    ("", r"is empty"), ("# only a comment\n", r"is empty"),
])
def test_a_bad_setting_stops_the_run_before_anything_executes_naming_key_file_and_range(tmp_path, text,
                                                                                        message):
    mine = tmp_path / "mine.yaml"
    mine.write_text(text)
    with pytest.raises(ParamsError, match=rf"{re.escape(str(mine))}: .*{message}"):
        resolve_params(mine)


def test_a_binary_params_file_is_named_in_one_line(tmp_path):
    mine = tmp_path / "photo.yaml"
    mine.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x80\x81")
    with pytest.raises(ParamsError, match=r"photo.yaml: not a text file"):
        resolve_params(mine)


def test_the_report_refuses_a_bad_setting_before_creating_a_run_folder(tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("epochs: -3\n")
    assert report_main([str(mine), "--outputs", str(tmp_path / "outputs")]) == 1
    assert "'epochs' must be from 1 to 1000" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())
