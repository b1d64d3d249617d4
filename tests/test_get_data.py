"""`make data`: links the shared copy, says what to do when there is no data, honours the params file."""

from __future__ import annotations

import pytest

from lib import get_data
from lib.data import DataError


@pytest.fixture
def no_kaggle(monkeypatch, tmp_path):
    """No Kaggle credentials and no CASTING_DATA_DIR, whatever the machine has."""
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "CASTING_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_the_shared_copy_is_linked_where_the_project_looks(casting_tree, tmp_path, no_kaggle, capsys):
    link = tmp_path / "project" / "data" / "casting_data"
    assert get_data.provide_data(link, shared=casting_tree) == link
    assert link.is_symlink() and link.resolve() == casting_tree.resolve()
    assert f"linked {link}" in capsys.readouterr().out
    assert get_data.provide_data(link, shared=tmp_path / "gone") == link.resolve()  # already there: kept


def test_a_dangling_link_is_replaced_by_the_shared_copy_and_says_so(casting_tree, tmp_path, no_kaggle,
                                                                     capsys):
    link = tmp_path / "data" / "casting_data"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "moved-away", target_is_directory=True)
    get_data.provide_data(link, shared=casting_tree)
    assert link.resolve() == casting_tree.resolve()
    said = capsys.readouterr().err
    assert f"removed {link}" in said and "moved-away, which no longer exists" in said


def test_a_data_folder_variable_pointing_nowhere_is_named_as_the_source(tmp_path, no_kaggle, monkeypatch):
    monkeypatch.setenv("CASTING_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"CASTING_DATA_DIR is set to .*nowhere, which is not a folder"):
        get_data.provide_data(tmp_path / "data" / "casting_data", shared=tmp_path / "no-shared")


def test_no_data_and_no_credentials_says_where_to_put_it(tmp_path, no_kaggle):
    with pytest.raises(DataError, match=r"no data at .*casting_data and no Kaggle credentials.*ravirajsinh"):
        get_data.provide_data(tmp_path / "data" / "casting_data", shared=tmp_path / "no-shared")
    assert not (tmp_path / "data" / "casting_data").exists()


def test_the_kaggle_archive_folder_is_found_inside_the_download(casting_tree, tmp_path):
    assert get_data.find_casting_root(casting_tree.parent) == casting_tree
    with pytest.raises(DataError, match="no casting_data"):
        get_data.find_casting_root(tmp_path / "casting_data" / "test")


def test_make_data_checks_the_params_files_data_dir(casting_tree, tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text(f"data_dir: {casting_tree}\n")
    assert get_data.main(["--params", str(params)]) == 0
    printed = capsys.readouterr().out
    assert f"checking every image in {casting_tree.resolve()}" in printed and "def_front" in printed
    params.write_text(f"data_dir: {tmp_path / 'nowhere'}\n")
    assert get_data.main(["--params", str(params)]) == 1
    assert f"data folder not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err
