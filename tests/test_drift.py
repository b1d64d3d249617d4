"""Drift at the line: photos like the training photos pass quietly; a brighter lamp, a blurred lens or an
off-centre part are named, and a batch with many of them ends with a warning."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from lib import drift, part, robustness, runtime
from lib.inspect import main
from lib.models import build_model
from lib.part import find_part, part_input_and_circle
from lib.scoring import fast_predictor
from tests.test_part import impeller


def training_photos(n: int = 24) -> list[np.ndarray]:
    """Impellers as the bench gives them: a little off-centre, a little larger or smaller, lamps that vary."""
    rng = np.random.default_rng(3)
    photos = []
    for seed in range(n):
        centre = (150 + int(rng.integers(-6, 7)), 150 + int(rng.integers(-6, 7)))
        photo = impeller(centre=centre, radius=int(rng.integers(116, 126)), seed=seed)
        photos.append(np.clip(photo * rng.uniform(0.92, 1.05), 0, 255).astype(np.uint8))
    return photos


@pytest.fixture(scope="module")
def reference() -> dict:
    measures = pd.DataFrame([drift.photo_measures(p) for p in training_photos()])
    return drift.training_reference(measures)


def test_photos_like_the_training_photos_do_not_drift(reference):
    new = [impeller(centre=(152, 147), radius=121, seed=100 + i) for i in range(5)]
    assert [drift.drift_notes(drift.photo_measures(p), reference) for p in new] == [""] * 5


@pytest.mark.parametrize("change, named", [
    (("brighter", 0.4), "light brighter than any training photo"),
    (("darker", 0.5), "light dimmer than any training photo"),
    (("blur", 3.0), "photo blurrier than any training photo"),
    (("shift", 0.08), "part off-centre"),
])
def test_a_changed_lamp_lens_or_position_is_named(reference, change, named):
    photo = robustness.perturb(impeller(seed=200), *change)
    assert named in drift.drift_notes(drift.photo_measures(photo), reference)


def test_a_photo_with_no_part_or_no_reference_has_no_drift_note(reference):
    assert drift.photo_measures(np.full((300, 300), 120, np.uint8)) is None
    assert drift.drift_notes(None, reference) == ""
    assert drift.drift_notes(drift.photo_measures(impeller()), None) == ""


def test_the_batch_warning_fires_only_above_its_share():
    quiet = [""] * 95 + ["part off-centre"] * 5
    loud = [""] * 94 + ["part off-centre"] * 6
    assert drift.batch_warning(quiet) == "" and drift.batch_warning([]) == ""
    assert "check the lamp and the camera" in drift.batch_warning(loud)


def test_a_damaged_reference_is_refused_naming_the_file_and_the_fix(tmp_path):
    (tmp_path / drift.DRIFT_REFERENCE).write_text(json.dumps({"photos": 3, "measures": {"light": {}}}))
    with pytest.raises(ValueError, match=r"drift_reference.json.*run chapter 3 again"):
        drift.load_reference(tmp_path)
    assert drift.load_reference(tmp_path / "elsewhere") is None


def test_inspect_names_drift_per_photo_and_warns_when_many_drift(tmp_path, reference, capsys):
    run = tmp_path / "20261201-100000-line"
    run.mkdir()
    build_model("fast_cnn", 32).save(run / "best.keras")
    (run / "operating_point.json").write_text(json.dumps(
        {"threshold": 0.5, "review_low": 0.4, "review_high": 0.6, "why": "test", "input_stage": "part",
         "photo_size": [300, 300]}))
    (run / drift.DRIFT_REFERENCE).write_text(json.dumps(reference))
    folder = tmp_path / "line"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"as-trained-{i}.png"), impeller(seed=300 + i))
    cv2.imwrite(str(folder / "bright.png"), robustness.perturb(impeller(seed=310), "brighter", 0.4))
    out = tmp_path / "v.csv"
    assert main([str(folder), "--model", str(run), "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert rows.loc[str(folder / "bright.png"), "drift"].startswith("light brighter")
    assert (rows.drop(index=str(folder / "bright.png"))["drift"] == "").all()
    said = capsys.readouterr()
    assert "1 unlike the training photos" in said.out
    assert "check the lamp and the camera" in said.err  # 1 of 5 drifted: over 5%


def test_an_older_run_without_a_reference_says_it_has_no_drift_check(tmp_path, capsys):
    run = tmp_path / "20261120-100000-old"
    run.mkdir()
    build_model("fast_cnn", 32).save(run / "best.keras")
    (run / "operating_point.json").write_text(json.dumps(
        {"threshold": 0.5, "review_low": 0.4, "review_high": 0.6, "why": "test", "photo_size": [300, 300]}))
    cv2.imwrite(str(tmp_path / "one.png"), impeller())
    assert main([str(tmp_path / "one.png"), "--model", str(run), "--out", str(tmp_path / "v.csv")]) == 0
    assert "No drift check" in capsys.readouterr().out


def test_measures_from_the_circle_already_found_equal_those_found_afresh():
    photo = robustness.perturb(impeller(seed=5), "shift", 0.03)
    assert drift.photo_measures(photo, find_part(photo)) == drift.photo_measures(photo)


def test_the_robustness_tables_drift_check_says_what_inspect_would_of_each_changed_photo(reference):
    photos = np.stack(training_photos(8))
    labels = np.arange(8) % 2
    table = robustness.robustness_table(lambda images: np.zeros(len(images)), 32, photos, labels,
                                        {"0.5": 0.5}, seed=1, stage="part", drift_check=True,
                                        reference=reference).set_index(["change", "strength"])
    for change in (("none", 0.0), ("brighter", 0.4), ("blur", 2.0)):
        notes = [drift.drift_notes(drift.photo_measures(
            photo if change[0] == "none" else robustness.perturb(photo, *change, seed=1 + i)), reference)
            for i, photo in enumerate(photos)]
        row = table.loc[change]
        assert row["photos"] == 8 and row["photos drifted"] == sum(map(bool, notes))
        assert row["line warned"] == bool(drift.batch_warning(notes))
    assert table.loc[("none", 0.0), "photos drifted"] == 0
    assert table.loc[("brighter", 0.4), "photos drifted"] == 8 and table.loc[("brighter", 0.4), "line warned"]
    plain = robustness.robustness_table(lambda images: np.zeros(len(images)), 32, photos, labels,
                                        {"0.5": 0.5})
    assert not set(robustness.DRIFT_COLUMNS) & set(plain.columns)


def test_the_bench_times_inspection_with_the_drift_check_as_lib_inspect_runs_it(reference, tmp_path):
    paths = []
    for i, photo in enumerate([impeller(seed=400), robustness.perturb(impeller(seed=401), "brighter", 0.4)]):
        paths.append(str(tmp_path / f"part-{i}.png"))
        cv2.imwrite(paths[-1], photo)
    predict = fast_predictor(build_model("fast_cnn", 32), 8)
    plain, *_ = runtime.inspection_speed(predict, 32, paths, "part", latency_files=2)
    checked, per_second, p95 = runtime.inspection_speed(predict, 32, paths, "part", 2, reference)
    assert list(plain["drift"]) == ["", ""] and checked["drift"][1].startswith("light brighter")
    assert checked["drift"][0] == "" and per_second > 0 and p95 > 0
    np.testing.assert_allclose(checked["defect_probability"], plain["defect_probability"])


def test_a_reference_read_at_the_networks_size_reuses_the_part_stages_cut_to_the_last_bit(tmp_path):
    paths = []
    for i, photo in enumerate(training_photos(6)):
        paths.append(str(tmp_path / f"part-{i}.png"))
        cv2.imwrite(paths[-1], photo)
    reference = drift.save_reference(tmp_path, paths, 48)
    assert reference["measure_px"] == 48 and drift.load_reference(tmp_path)["measure_px"] == 48
    photo = robustness.perturb(impeller(seed=7), "blur", 1.0)
    cut, circle = part_input_and_circle(photo, 48)
    assert drift.photo_measures(photo, circle, 48, cut) == drift.photo_measures(photo, measure_px=48)
    assert drift.photo_measures(photo, circle, 48) != drift.photo_measures(photo, circle)  # 256 px
    assert drift.photo_drift(photo, circle, cut, "part", reference) == drift.drift_notes(
        drift.photo_measures(photo, measure_px=48), reference)


def test_an_older_reference_without_its_size_is_read_at_256_px(reference):
    older = {key: value for key, value in reference.items() if key != "measure_px"}
    assert drift.reference_px(older) == drift.MEASURE_PX == 256
    photo = robustness.perturb(impeller(seed=8), "blur", 3.0)
    cut, circle = part_input_and_circle(photo, 32)  # the network's cut is of another size: not reused
    assert drift.photo_drift(photo, circle, cut, "part", older) == drift.drift_notes(
        drift.photo_measures(photo), older)
    assert "photo blurrier than any training photo" in drift.photo_drift(photo, circle, cut, "part", older)


def test_a_blurred_lens_is_named_when_sharpness_is_read_at_the_networks_size():
    sized = drift.training_reference(pd.DataFrame([drift.photo_measures(p, measure_px=112)
                                                   for p in training_photos()]), 112)
    photo = robustness.perturb(impeller(seed=200), "blur", 3.0)
    cut, circle = part_input_and_circle(photo, 112)
    assert "photo blurrier than any training photo" in drift.photo_drift(photo, circle, cut, "part", sized)
    resized = cv2.resize(photo, (112, 112), interpolation=cv2.INTER_AREA)  # the photo stage's input: no cut
    assert drift.photo_drift(photo, circle, resized, "photo", sized) == drift.drift_notes(
        drift.photo_measures(photo, circle, 112), sized)


@pytest.mark.parametrize("circle", [(150.4, 149.6, 120.3), (20.0, 280.0, 90.0), (-40.2, 150.0, 60.0),
                                    (150.0, 330.0, 40.0), (-100.0, -100.0, 30.0), (150.0, 150.0, 0.2)])
def test_the_rims_light_read_in_its_box_equals_a_disc_drawn_on_the_whole_photo(circle):
    """Inside, at the edge, partly or wholly outside the photo, and a radius under one pixel."""
    photo = impeller(centre=(150, 150), radius=120, seed=5)
    x, y, radius = circle
    disc = cv2.circle(np.zeros_like(photo), (round(x), round(y)), max(1, round(radius)), 1, -1)
    expected = np.percentile(photo[disc > 0], part.LIGHT_PERCENTILES).tolist() if disc.any() else [0.0, 0.0]
    assert list(drift.rim_percentiles(photo, circle)) == expected
