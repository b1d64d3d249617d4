"""Parameter files are checked against the notebooks' parameters cells before anything runs."""

from __future__ import annotations

import pytest

from lib.params import ParamsError, declared_parameters, load_params, validate_params
from lib.report import NOTEBOOKS_DIR

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
    validate_params({"val_fraction": 1, "epochs": 4}, DECLARED, "params/x.yaml")


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
