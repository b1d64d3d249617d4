"""The inspect command: one row per file found, clear errors for bad files, safe on bad models."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import time

import cv2
import keras
import loky
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lib import part, runtime
from lib.config import PROJECT_ROOT
from lib.data import DataError, decode_image
from lib.decision import verdicts
from lib.inspect import claim_output, main
from lib.models import build_model, load_model
from lib.runtime import (
    MODEL_TFLITE,
    NETWORK_BATCH,
    SURE,
    dihedral_views,
    eight_view_scores,
    inspection_costs,
    is_sure,
    saved_tflite,
    tflite_predictor,
)
from lib.scoring import fast_predictor, save_tflite, to_tflite
from tests.conftest import fake_part


@pytest.fixture
def run_dir(tmp_path):
    """A run folder with a small untrained model and a saved operating point."""
    run = tmp_path / "20261122-093005-smoke"
    run.mkdir()
    build_model("fast_cnn", 32).save(run / "best.keras")
    (run / "operating_point.json").write_text(json.dumps(
        {"threshold": 0.5, "review_low": 0.4, "review_high": 0.6, "why": "test", "photo_size": [32, 32]}))
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
    assert len(rows) == 8  # .DS_Store is skipped, and counted
    errors = rows[rows.error != ""]
    assert sorted(p.rsplit("/", 1)[-1] for p in errors.index) == ["corrupt.jpeg", "empty.jpeg", "text.jpeg"]
    assert (errors.verdict == "").all()
    readable = rows[rows.error == ""]
    assert set(readable.verdict) <= {"ok", "defect", "review"} and len(readable) == 5
    assert readable.loc[str(mixed_folder / "sub" / "big.jpeg"), "note"] == (
        "resized from 512x512 (training photos 32x32)")
    assert readable.loc[str(mixed_folder / "good.jpeg"), "note"] == ""  # the training size: nothing to say
    assert (rows.run_id == run_dir.name).all() and (rows.threshold == 0.5).all()
    printed = capsys.readouterr()
    assert "8 files:" in printed.out and "3 error" in printed.out and "1 dot-file skipped" in printed.out
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


def test_with_float_weights_the_fast_predictor_gives_the_keras_scores():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32)).astype(np.uint8)
    expected = model.predict(images[..., None] / 255.0, verbose=0).reshape(-1)
    predict = fast_predictor(model, weights_8bit=False)
    assert np.allclose(predict(images), expected, atol=1e-5)
    assert np.allclose(predict(images[:2]), expected[:2], atol=1e-5)  # a smaller last batch


def test_8bit_weights_make_a_model_a_third_the_size_and_score_each_image_as_if_alone():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(3).integers(0, 256, (7, 32, 32)).astype(np.uint8)
    assert len(to_tflite(model)) < len(to_tflite(model, weights_8bit=False)) / 3
    predict = fast_predictor(model)
    together = predict(images)
    alone = np.concatenate([predict(image[None]) for image in images])
    assert np.allclose(together, alone, atol=1e-6)  # each image quantised by its own scale, alone
    expected = model.predict(images[..., None] / 255.0, verbose=0).reshape(-1)
    assert np.abs(together - expected).max() < 0.01


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
    views = np.concatenate(dihedral_views(images))
    assert len({v.tobytes() for v in views}) == 16  # eight distinct views of each random image
    expected = model.predict(views[..., None] / 255.0, verbose=0).reshape(8, 2).mean(axis=0)
    assert np.allclose(fast_predictor(model, views=8, weights_8bit=False)(images), expected, atol=1e-5)


def test_a_part_its_four_turns_are_sure_of_keeps_their_mean_and_only_the_others_are_scored_mirrored():
    rows_seen = []

    def run(view: np.ndarray) -> np.ndarray:  # a network that reads one pixel, a different one in each view
        rows_seen.append(len(view))
        return view[:, 0, 1, 0].astype(np.float32) / 255

    read = [int(view[0, 0, 1, 0]) for view in dihedral_views(np.arange(64).reshape(1, 8, 8, 1))]
    images = np.random.default_rng(4).integers(20, 235, (5, 8, 8, 1)).astype(np.uint8)
    pixels = images.reshape(5, 64)
    pixels[0, read[:4]], pixels[0, read[4:]] = 0, 255  # sure by its turns, though the mirrored views differ
    pixels[1, read] = 255
    every = np.mean([run(view) for view in dihedral_views(images)], axis=0)
    rows_seen.clear()
    scores = eight_view_scores(run, images, SURE)
    assert rows_seen == [5] * 4 + [3] * 4  # the mirrored views only for the three unsure parts
    assert scores[0] == 0 and scores[1] == 1 and every[0] == 0.5  # sure parts keep their turns' mean
    assert np.array_equal(scores[2:], every[2:])  # the others get all eight views, to the bit
    rows_seen.clear()
    assert np.array_equal(eight_view_scores(run, images, 0.0), every) and rows_seen == [5] * 8


def test_the_sure_part_shortcut_gives_the_verdicts_of_all_eight_views_on_generated_parts():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(384) % 2
    images = np.stack([fake_part(rng, bool(label), 32) for label in labels])
    model = keras.Sequential([keras.Input((32, 32, 1)),
                              keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                              keras.layers.GlobalMaxPooling2D(), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(images[..., None] / 255.0, labels, epochs=8, batch_size=32, verbose=0)
    new = np.stack([fake_part(rng, bool(label), 32) for label in np.arange(200) % 2])
    faded = [np.clip(128 + (new - 128.0) * alpha, 0, 255).astype(np.uint8) for alpha in (0.6, 0.4, 0.3, 0.2)]
    parts = np.concatenate([new, *faded])  # faded parts: scores across the whole range
    quick = fast_predictor(model, views=8)
    every = dataclasses.replace(quick, sure=0.0)(parts)
    scores = quick(parts)
    sure = is_sure(scores)
    assert 0.2 < sure.mean() < 0.9, f"{sure.mean():.0%} sure: the test needs both kinds"
    assert np.allclose(scores[~sure], every[~sure], atol=1e-6)
    assert np.array_equal(verdicts(scores, 0.5, 0.1, 0.9), verdicts(every, 0.5, 0.1, 0.9))


def test_unknown_number_of_views_is_refused():
    with pytest.raises(ValueError, match="test_time_views must be one of"):
        fast_predictor(build_model("fast_cnn", 32), views=4)


def test_a_photo_with_no_part_goes_to_review_and_says_so(run_dir, tmp_path):
    point = json.loads((run_dir / "operating_point.json").read_text())
    point = {**point, "input_stage": "part", "photo_size": [300, 300]}  # the photos below are 300 px
    (run_dir / "operating_point.json").write_text(json.dumps(point))
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


def _photo_jpeg(path, seed: int = 0) -> bytes:
    """A 300 px generated part saved as a detailed JPEG (tens of kB, so bytes 3000-7000 are image data)."""
    image = np.clip(cv2.resize(fake_part(np.random.default_rng(seed), False, 64), (300, 300))
                    + np.random.default_rng(seed).normal(0, 12, (300, 300)), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["bytes 3000-7000 overwritten", "cut in half, end marker added"])
def test_a_jpeg_with_damaged_data_is_refused_naming_the_file(run_dir, tmp_path, damage, capsys):
    raw = _photo_jpeg(tmp_path / "good.jpeg")
    broken = (raw[:3000] + bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)) + raw[7000:]
              if damage.startswith("bytes") else raw[: len(raw) // 2] + b"\xff\xd9")
    bad = tmp_path / "damaged.jpeg"
    bad.write_bytes(broken)
    with pytest.raises(DataError, match=r"damaged JPEG data .*damaged\.jpeg"):
        decode_image(bad)
    out = tmp_path / "v.csv"
    assert main([str(bad), str(tmp_path / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 1
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert rows.loc[str(bad), "verdict"] == "" and "damaged JPEG data" in rows.loc[str(bad), "error"]
    assert rows.loc[str(tmp_path / "good.jpeg"), "error"] == ""


def test_a_run_without_operating_point_is_refused_unless_a_threshold_is_given(run_dir, mixed_folder, tmp_path,
                                                                                capsys):
    (run_dir / "operating_point.json").unlink()
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 2
    assert "operating_point.json" in capsys.readouterr().err and not out.exists()
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out),
                 "--threshold", "0.3"]) == 0
    assert (pd.read_csv(out).threshold == 0.3).all()


def test_a_run_trained_on_parts_cut_otherwise_is_refused_naming_its_recipe(run_dir, mixed_folder, tmp_path,
                                                                            capsys):
    out = tmp_path / "v.csv"
    recipe = {"input_stage": "part", "stage_version": "cut-before-2026"}
    (run_dir / "recipe.json").write_text(json.dumps(recipe))
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert "recipe.json" in said and "cut-before-2026" in said and "make report" in said and not out.exists()
    (run_dir / "recipe.json").write_text(json.dumps({**recipe, "stage_version": part.VERSION}))
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 0


@pytest.mark.parametrize("content, field", [
    ("{}", "'threshold'"), ('{"threshold": "high", "review_low": 0.1, "review_high": 0.9}', "'threshold'"),
    ('{"threshold": 0.5, "review_low": 0.1, "review_high": 0.9, "views": 3}', "'views'"),
    ('{"threshold": 0.5, "review_low": 0.9, "review_high": 0.1}', "reversed"),
    ('{"threshold": 0.5, ', "not valid JSON"), ("[0.5]", "must hold an object"),
])
def test_a_malformed_operating_point_gets_one_line_naming_the_file_and_the_field(
        run_dir, mixed_folder, tmp_path, capsys, content, field):
    (run_dir / "operating_point.json").write_text(content)
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "operating_point.json" in err and field in err and "Traceback" not in err


def test_a_tiny_photo_is_refused_and_odd_shapes_and_several_frames_are_noted(run_dir, tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "wide.png"), cv2.resize(fake_part(rng, False, 32), (64, 32)))
    frames = [Image.fromarray(fake_part(rng, False, 32)) for _ in range(2)]
    frames[0].save(tmp_path / "two.tiff", save_all=True, append_images=frames[1:])
    out = tmp_path / "v.csv"
    assert main([str(tmp_path / n) for n in ("dot.png", "wide.png", "two.tiff")]
                + ["--model", str(run_dir), "--out", str(out)]) == 1
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert "too small to judge (1x1 px" in rows.loc[str(tmp_path / "dot.png"), "error"]
    assert "unusual aspect ratio 64x32" in rows.loc[str(tmp_path / "wide.png"), "note"]
    assert rows.loc[str(tmp_path / "two.tiff"), "note"] == "first frame scored of 2"
    assert rows.loc[str(tmp_path / "two.tiff"), "verdict"] in ("ok", "defect", "review")


def test_a_broken_link_gets_an_error_row_and_an_empty_folder_is_refused(run_dir, mixed_folder, tmp_path,
                                                                         capsys):
    (mixed_folder / "gone.jpeg").symlink_to(tmp_path / "nowhere.jpeg")
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 1
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert "cannot read" in rows.loc[str(mixed_folder / "gone.jpeg"), "error"]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / ".DS_Store").write_bytes(b"x")
    capsys.readouterr()
    assert main([str(empty), "--model", str(run_dir), "--out", str(tmp_path / "w.csv")]) == 2
    assert "no files to inspect" in capsys.readouterr().err and not (tmp_path / "w.csv").exists()


@pytest.mark.parametrize("where", ["a missing folder", "below a file"])
def test_an_output_that_cannot_be_created_is_refused_before_any_scoring(run_dir, mixed_folder, tmp_path,
                                                                          monkeypatch, capsys, where):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / ("missing" if where == "a missing folder" else "a_file") / "v.csv"
    monkeypatch.setattr("lib.inspect.inspect_files", lambda *a, **k: pytest.fail("scored before the check"))
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 3
    assert f"cannot write {out}" in capsys.readouterr().err


def test_a_failed_write_leaves_no_part_file_and_exits_3(run_dir, mixed_folder, tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 3
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "v.csv.part").exists()


def test_an_output_claimed_by_another_run_is_never_shared(run_dir, mixed_folder, tmp_path, capsys):
    out = tmp_path / "v.csv"
    claim_output(out)  # another inspection started a moment earlier with the same --out
    assert main([str(mixed_folder / "good.jpeg"), "--model", str(run_dir), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == ""


def test_an_interrupted_inspection_keeps_the_rows_scored_so_far_under_a_partial_name(run_dir, mixed_folder,
                                                                                       tmp_path, monkeypatch):
    import lib.inspect as inspect_module

    real, calls = inspect_module.inspect_files, []

    def interrupted_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect_module, "CHUNK", 2)
    monkeypatch.setattr(inspect_module, "inspect_files", interrupted_on_the_second_chunk)
    out = tmp_path / "v.csv"
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 130
    assert not out.exists() and not (tmp_path / "v.csv.part").exists()
    partial = tmp_path / "v.partial-2-of-8.csv"
    assert len(pd.read_csv(partial)) == 2


@pytest.mark.parametrize("name", ["=SUM(A1).png", "+1.png", "@me.png"])
def test_file_names_a_spreadsheet_would_run_as_formulas_are_neutralised(run_dir, tmp_path, monkeypatch, name):
    cv2.imwrite(str(tmp_path / name), fake_part(np.random.default_rng(0), False, 32))
    monkeypatch.chdir(tmp_path)
    assert main([name, "--model", str(run_dir), "--out", "v.csv"]) == 0
    assert pd.read_csv(tmp_path / "v.csv").path.tolist() == [f"'{name}"]


@pytest.mark.parametrize("size", ["0", "-5", "100000"])
def test_a_batch_size_out_of_range_is_refused_before_loading_anything(run_dir, mixed_folder, tmp_path, capsys,
                                                                       size):
    assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(tmp_path / "v.csv"),
                 "--batch-size", size]) == 2
    assert "--batch-size must be from 1 to 4096" in capsys.readouterr().err
    assert not (tmp_path / "v.csv").exists()


def test_the_saved_tflite_model_on_litert_gives_the_keras_scores_to_1e_5_with_float_weights(tmp_path):
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32), dtype=np.uint8)
    expected = model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0).ravel()
    predict, size = tflite_predictor(save_tflite(model, tmp_path, weights_8bit=False).read_bytes(), views=1)
    assert size == 32 and np.allclose(predict(images), expected, atol=1e-5)
    predict, _ = tflite_predictor(save_tflite(model, tmp_path).read_bytes(), views=1)  # as the line has it
    assert np.abs(predict(images) - expected).max() < 0.01


def test_an_older_tflite_than_the_keras_model_is_not_used(tmp_path):
    model = build_model("fast_cnn", 32)
    save_tflite(model, tmp_path)
    assert saved_tflite(tmp_path) == tmp_path / MODEL_TFLITE
    model.save(tmp_path / "best.keras")  # retrained after the flatbuffer was written
    os.utime(tmp_path / "best.keras", (time.time() + 5, time.time() + 5))
    assert saved_tflite(tmp_path) is None


NO_TENSORFLOW = ("import sys\n"
                 "for name in ('tensorflow', 'keras', 'tf_keras'):\n"
                 "    sys.modules[name] = None  # import tensorflow now fails, as on a line PC without it\n"
                 "from lib.inspect import main\n"
                 "code = main(sys.argv[1:])\n"
                 "assert 'tensorflow' not in {m for m, v in sys.modules.items() if v is not None}\n"
                 "sys.exit(code)\n")


def test_inspect_runs_without_tensorflow_on_the_runs_tflite_model(run_dir, mixed_folder, tmp_path):
    save_tflite(load_model(run_dir), run_dir)
    out = tmp_path / "v.csv"
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(mixed_folder), "--model", str(run_dir),
                           "--out", str(out)], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 1, done.stderr  # 1: the bad files of the folder
    rows = pd.read_csv(out, keep_default_na=False)
    assert len(rows) == 8 and (rows.verdict != "").sum() == 5 and "LiteRT on model.tflite" in done.stdout
    assert "INFO:" not in done.stderr and "XNNPACK" not in done.stderr  # no runtime log line on the terminal


def test_without_tensorflow_a_run_without_tflite_is_refused_naming_the_fix(run_dir, mixed_folder, tmp_path):
    args = [str(mixed_folder), "--model", str(run_dir), "--out", str(tmp_path / "v.csv")]
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT)
    assert done.returncode == 2
    assert "no up-to-date model.tflite and TensorFlow is not installed" in done.stderr


def test_a_local_dask_cluster_of_two_workers_gives_the_same_rows_as_one_process(run_dir, tmp_path,
                                                                                 monkeypatch):
    pytest.importorskip("dask.distributed")
    import lib.inspect as inspect_module

    folder = tmp_path / "archive"
    folder.mkdir()
    for i in range(7):
        cv2.imwrite(str(folder / f"part-{i}.png"), fake_part(np.random.default_rng(i), i % 2 == 0, 32))
    (folder / "broken.jpeg").write_bytes(b"\xff\xd8 not a photo")
    monkeypatch.setattr(inspect_module, "CHUNK", 3)  # three tasks, so both workers get some
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main([str(folder), "--model", str(run_dir), "--out", str(one)]) == 1
    assert main([str(folder), "--model", str(run_dir), "--out", str(two), "--workers", "2"]) == 1
    single, spread = pd.read_csv(one, keep_default_na=False), pd.read_csv(two, keep_default_na=False)
    assert spread.path.tolist() == single.path.tolist()  # every file once, in the same order
    pd.testing.assert_frame_equal(spread, single, check_exact=False, atol=1e-6)


def test_the_bench_breaks_inspection_down_into_decoding_finding_cutting_out_and_the_network(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"p{i}.jpeg"))
        cv2.imwrite(paths[-1], fake_part(rng, defect=bool(i % 2), size=300))
    seen = []

    def network(images: np.ndarray) -> np.ndarray:
        seen.append(images.shape)
        return np.zeros(len(images), np.float32)

    costs = inspection_costs(network, 32, paths, "part")
    assert list(costs) == ["decode ms", "find part ms", "cut out ms", "network ms per view"]
    assert all(value > 0 for value in costs.values())
    assert seen and all(shape == (NETWORK_BATCH, 32, 32) for shape in seen)  # one view, a batch a call
    assert list(inspection_costs(network, 32, paths, "photo")) == ["decode ms", "resize ms",
                                                                   "network ms per view"]
    blank = str(tmp_path / "blank.jpeg")
    cv2.imwrite(blank, np.full((300, 300), 120, np.uint8))
    with pytest.raises(ValueError, match=r"no part found in any of the 1 photos timed \(the first: .*blank"):
        inspection_costs(network, 32, [blank], "part")


def test_more_images_than_one_network_batch_score_as_each_would_alone():
    model = build_model("fast_cnn", 32)
    images = np.random.default_rng(3).integers(0, 256, (NETWORK_BATCH + 9, 32, 32)).astype(np.uint8)
    for views in (1, 8):
        predict = fast_predictor(model, views)
        together = predict(images)
        assert together.shape == (len(images),)
        alone = np.concatenate([predict(images[i:i + 1]) for i in range(len(images))])
        assert np.allclose(together, alone, atol=1e-6)  # batches of one round a last bit apart
        in_two = np.concatenate([predict(images[:NETWORK_BATCH + 3]), predict(images[NETWORK_BATCH + 3:])])
        assert np.allclose(together, in_two, atol=1e-6)  # nor does how a table is cut into batches
    assert predict(images[:0]).shape == (0,)


def test_photos_read_in_processes_give_the_rows_read_in_threads_and_in_one_thread(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    paths = []
    for i in range(40):
        paths.append(str(tmp_path / f"p{i:02d}.jpeg"))
        cv2.imwrite(paths[-1], fake_part(rng, defect=bool(i % 3), size=96))
    (tmp_path / "bad.jpeg").write_text("not a photo")
    cv2.imwrite(str(tmp_path / "bench.png"), np.full((96, 96), 120, np.uint8))
    paths[5:5] = [str(tmp_path / "bad.jpeg"), str(tmp_path / "bench.png")]
    predict = fast_predictor(build_model("fast_cnn", 32), views=8)
    rows = {}
    for way, start in (("processes", 2), ("threads", 10 ** 9)):
        monkeypatch.setattr(runtime, "READ_IN_PROCESSES_FROM", start)
        rows[way] = runtime.score_files(predict, 32, paths, batch_size=16, stage="part")
        # a predictor that is not a LitePredictor stays here: the processes only read for it
        rows[f"{way}, network here"] = runtime.score_files(lambda x: predict(x), 32, paths, batch_size=16,
                                                           stage="part")
    rows["one thread"] = pd.concat([runtime.score_files(predict, 32, [p], stage="part") for p in paths],
                                   ignore_index=True)
    for way in rows:
        pd.testing.assert_frame_equal(rows["processes"], rows[way])
    assert rows["processes"]["defect_probability"].notna().sum() == 40
    assert "not a readable image" in rows["processes"]["error"][5]
    assert rows["processes"]["note"][6].startswith("part not found")


def test_a_lite_predictor_travels_to_another_process_as_its_flatbuffer_and_scores_there_as_here():
    predict = fast_predictor(build_model("fast_cnn", 32), views=8)
    images = np.random.default_rng(5).integers(0, 256, (12, 32, 32)).astype(np.uint8)
    sent = pickle.dumps(predict)
    assert len(sent) < len(predict.flatbuffer) + 1000  # no interpreter goes with it
    there = runtime.reading_processes().submit(pickle.loads(sent), images).result()
    assert np.array_equal(there, predict(images))
    one_thread = dataclasses.replace(predict, threads=1)
    assert np.array_equal(one_thread(images), predict(images))  # the scores do not depend on the threads


def test_photos_scored_in_the_reading_processes_leave_this_process_s_network_unused(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    paths = [str(tmp_path / f"p{i}.jpeg") for i in range(6)]
    for path in paths:
        cv2.imwrite(path, fake_part(rng, defect=False, size=96))
    predict = fast_predictor(build_model("fast_cnn", 32))
    monkeypatch.setattr(runtime, "READ_IN_PROCESSES_FROM", 2)
    runtime._network.cache_clear()
    rows = runtime.score_files(predict, 32, paths, stage="part")
    assert rows["defect_probability"].notna().all()
    assert runtime._network.cache_info().currsize == 0  # every photo was scored in a reading process


def test_inspect_reading_in_processes_writes_the_rows_it_writes_reading_in_threads(run_dir, mixed_folder,
                                                                                   tmp_path, monkeypatch):
    import lib.inspect as inspect_module

    written = {}
    for way, start in (("threads", 10 ** 9), ("processes", 2)):
        monkeypatch.setattr(runtime, "READ_IN_PROCESSES_FROM", start)
        monkeypatch.setattr(inspect_module, "READ_IN_PROCESSES_FROM", start)
        out = tmp_path / f"{way}.csv"
        assert main([str(mixed_folder), "--model", str(run_dir), "--out", str(out)]) == 1
        written[way] = pd.read_csv(out, keep_default_na=False)
    pd.testing.assert_frame_equal(written["processes"], written["threads"])


def _pool_kind(answer) -> None:
    with runtime.photo_readers(10 ** 6) as pool:
        answer.put(type(pool).__name__)


def test_a_daemonic_process_such_as_a_dask_worker_reads_in_threads_and_any_other_in_processes():
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    worker = context.Process(target=_pool_kind, args=(answer,), daemon=True)
    worker.start()
    assert answer.get(timeout=60) == "ThreadPoolExecutor"
    worker.join(timeout=60)
    with runtime.photo_readers(10 ** 6) as pool:
        assert isinstance(pool, loky.ProcessPoolExecutor)  # the reading processes, kept for the next call
        assert pool.submit(os.getpid).result() != os.getpid()
