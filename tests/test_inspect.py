"""The inspect command: one row per file found, clear errors for bad files, safe on bad models."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pandas as pd
import pytest

from lib.inspect import main
from lib.models import build_model
from lib.scoring import dihedral_views, fast_predictor
from tests.conftest import fake_part


@pytest.fixture
def run_dir(tmp_path):
    """A run folder with a small untrained model and a saved operating point."""
    run = tmp_path / "20261122-093005-smoke"
    run.mkdir()
    build_model("fast_cnn", 32).save(run / "best.keras")
    (run / "operating_point.json").write_text(json.dumps(
        {"threshold": 0.5, "review_low": 0.4, "review_high": 0.6, "why": "test"}))
    return run


@pytest.fixture
def mixed_folder(tmp_path):
    """Good images in several formats beside each kind of bad file."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "good.jpeg"), fake_part(rng, True, 32))
    cv2.imwrite(str(folder / "sub" / "big.jpeg"), fake_part(rng, False, 512))
    cv2.imwrite(str(folder / "deep16.png"), (fake_part(rng, False, 32).astype(np.uint16) * 257))
    rgba = cv2.cvtColor(fake_part(rng, True, 48), cv2.COLOR_GRAY2BGRA)
    cv2.imwrite(str(folder / "alpha.png"), rgba)
    cv2.imwrite(str(folder / "part.bmp"), fake_part(rng, False, 32))
    good = (folder / "good.jpeg").read_bytes()
    (folder / "corrupt.jpeg").write_bytes(good[: len(good) // 2])
    (folder / "empty.jpeg").write_bytes(b"")
    (folder / "text.jpeg").write_text("not a photo")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return folder


def test_every_file_gets_a_row_and_bad_files_their_error(run_dir, mixed_folder, tmp_path, capsys):
    out = tmp_path / "verdicts.csv"
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 1
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert len(rows) == 9
    errors = rows[rows.error != ""]
    assert sorted(p.rsplit("/", 1)[-1] for p in errors.index) == [
        ".DS_Store", "corrupt.jpeg", "empty.jpeg", "text.jpeg"]
    assert (errors.verdict == "").all()
    readable = rows[rows.error == ""]
    assert set(readable.verdict) <= {"ok", "defect", "review"} and len(readable) == 5
    assert readable.loc[str(mixed_folder / "sub" / "big.jpeg"), "note"] == "resized from 512x512"
    assert (rows.run_id == run_dir.name).all() and (rows.threshold == 0.5).all()
    printed = capsys.readouterr()
    assert "9 files:" in printed.out and "4 error" in printed.out
    assert "empty file (0 bytes)" in printed.err and "truncated JPEG" in printed.err


def test_all_good_files_exit_zero(run_dir, mixed_folder, tmp_path):
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder / "good.jpeg"), str(mixed_folder / "part.bmp"),
                 "--model", str(run_dir / "best.keras"), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 2


def test_existing_output_is_never_overwritten(run_dir, mixed_folder, tmp_path, capsys):
    out = tmp_path / "v.csv"
    out.write_text("earlier verdicts")
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 2
    assert out.read_text() == "earlier verdicts" and "exists" in capsys.readouterr().err


@pytest.mark.parametrize("make_model, message", [
    (lambda tmp: tmp / "no-such-run", "no model at .*no-such-run"),
    (lambda tmp: (tmp / "fake.keras").write_text("hello") and tmp / "fake.keras",
     "fake.keras is not a Keras model"),
])
def test_bad_model_path_is_named(mixed_folder, tmp_path, capsys, make_model, message):
    model = make_model(tmp_path)
    assert main([str(mixed_folder), "--model", str(model), "--out", str(tmp_path / "v.csv")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "v.csv").exists()


def test_missing_input_path_is_named(run_dir, tmp_path, capsys):
    assert main([str(tmp_path / "absent"), "--model", str(run_dir)]) == 2
    assert "no such file or folder: " in capsys.readouterr().err


def test_fast_predictor_gives_the_keras_scores():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32)).astype(np.uint8)
    expected = model.predict(images[..., None] / 255.0, verbose=0).reshape(-1)
    predict = fast_predictor(model)
    assert np.allclose(predict(images), expected, atol=1e-5)
    assert np.allclose(predict(images[:2]), expected[:2], atol=1e-5)  # a smaller last batch


def test_eight_view_scores_do_not_change_when_the_part_is_turned_or_mirrored():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32)).astype(np.uint8)
    one, eight = fast_predictor(model), fast_predictor(model, views=8)
    for changed in (np.rot90(images, 1, axes=(1, 2)), images[:, ::-1], images.transpose(0, 2, 1)):
        assert np.allclose(eight(changed), eight(images), atol=1e-5)
        assert not np.allclose(one(changed), one(images), atol=1e-5)  # an untrained net is not invariant


def test_eight_view_score_is_the_mean_of_the_keras_scores_of_the_views():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 32)).astype(np.uint8)
    views = dihedral_views(images)
    assert len({v.tobytes() for v in views}) == 16  # eight distinct views of each random image
    expected = model.predict(views[..., None] / 255.0, verbose=0).reshape(8, 2).mean(axis=0)
    assert np.allclose(fast_predictor(model, views=8)(images), expected, atol=1e-5)


def test_unknown_number_of_views_is_refused():
    with pytest.raises(ValueError, match="test_time_views must be one of"):
        fast_predictor(build_model("fast_cnn", 32), views=4)


def test_a_photo_with_no_part_goes_to_review_and_says_so(run_dir, tmp_path):
    point = json.loads((run_dir / "operating_point.json").read_text())
    (run_dir / "operating_point.json").write_text(json.dumps({**point, "input_stage": "part"}))
    folder = tmp_path / "line"
    folder.mkdir()
    cv2.imwrite(str(folder / "empty_bench.png"), np.full((300, 300), 120, np.uint8))
    disc = np.full((300, 300), 90, np.uint8)
    cv2.circle(disc, (150, 150), 125, 180, -1)
    cv2.circle(disc, (150, 150), 60, 30, -1)
    cv2.imwrite(str(folder / "part.png"), disc)
    out = tmp_path / "v.csv"
    assert main([str(folder), "--model", str(run_dir), "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    empty = rows.loc[str(folder / "empty_bench.png")]
    assert (empty.verdict, empty.note, empty.error) == ("review", "part not found", "")
    found = rows.loc[str(folder / "part.png")]
    assert "part not found" not in found.note and found.verdict in ("ok", "defect", "review")
