"""What management reads first: the headline counts the never-seen parts, the traffic lights turn red where
the verdicts break, the summary is one light file with every mistake as a picture, and prints to PDF; the
label audit lists the doubtful labels with their evidence."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from lib import audit, cv_results, headline, plots, summary

POINT = {"threshold": 0.3, "why": "the test rule", "review_low": 0.2, "review_high": 0.8}


def predictions() -> pd.DataFrame:
    """Eight test parts: four repeat a training photograph, four were never seen."""
    return pd.DataFrame({
        "path": [f"/d/test/p{i}.jpeg" for i in range(8)],
        "label": [1, 1, 0, 0, 1, 1, 0, 0], "twin_seen": [True] * 4 + [False] * 4,
        "verdict": ["defect", "ok", "ok", "ok", "ok", "review", "defect", "ok"],
    })


def changes() -> pd.DataFrame:
    """A robustness table: unchanged, a harmless change and one that breaks the verdicts."""
    acc, fn = "accuracy at operating point 0.3000", "FN at operating point 0.3000"
    return pd.DataFrame({"change": ["none", "blur", "blur", "brighter", "brighter"],
                         "strength": [0, 1, 2, 0.2, 0.4], "strength means": ["", "sigma"] * 2 + ["gain"],
                         acc: [0.99, 0.99, 0.985, 0.97, 0.80], fn: [1, 1, 2, 2, 40]})


def test_the_headline_counts_only_parts_never_seen():
    h = headline.never_seen_headline(predictions(), POINT)
    assert (h["parts"], h["defects"], h["shipped"], h["scrapped"], h["review"]) == (4, 2, 1, 1, 1)
    said = headline.headline_sentences(h)
    assert "On 4 test parts the network had never seen" in said and "shipped 1 defective part," in said


def test_a_change_that_breaks_the_verdicts_is_red_and_a_harmless_one_green():
    lights = headline.traffic_lights(changes()).set_index("change")
    assert lights.loc["blur", "milder light"] == "green" and lights.loc["blur", "stronger light"] == "green"
    assert lights.loc["brighter", "milder light"] == "amber"
    assert lights.loc["brighter", "stronger light"] == "red"
    assert "do not trust the verdicts" in headline.traffic_light_html(lights.reset_index())


def test_the_lights_count_what_the_line_ships_and_sends_to_review_where_the_table_has_it():
    line = {"shipped by the line": [0, 0, 0, 0, 1], "scrapped by the line": [1, 1, 1, 0, 0],
            "sent to review": [5, 5, 6, 9, 300]}
    by_line = changes().assign(**line)
    lights = headline.traffic_lights(by_line).set_index("change")
    assert lights.loc["brighter", ["stronger shipped", "stronger review"]].tolist() == [1, 300]
    assert lights.loc["brighter", "stronger light"] == "red"  # 19 points of accuracy lost at the threshold
    assert "1 shipped, 300 to review" in headline.traffic_light_html(lights.reset_index())
    said = headline.line_sentence(by_line, POINT, 400)
    assert "ships at most 1 defective part, under brighter 0.4 (0 unchanged)" in said
    assert "**300 of 400 parts** to a person, under brighter 0.4 (5 unchanged)" in said
    assert "scraps at most 1 good part (1 unchanged)" in said
    quiet = by_line.assign(**{"shipped by the line": 0, "scrapped by the line": 0})
    said = headline.line_sentence(quiet, POINT, 400)
    assert "ships no defective part under any change tried" in said and "scraps no good part" in said


def test_the_drift_sentence_names_a_broken_change_the_warning_misses():
    warned = pd.DataFrame({"change": ["none", "blur", "blur", "brighter", "brighter"],
                           "strength": [0, 1, 2, 0.2, 0.4], "photos": [10] * 5,
                           "photos drifted": [0, 0, 9, 0, 9],
                           "line warned": [False, False, True, False, True]})
    said = headline.drift_sentence(warned, headline.traffic_lights(changes()))
    assert "0 photos of 10 drifted" in said and "not warned" in said
    assert "stays quiet on 1 change: brighter (milder)" in said


@pytest.fixture
def run(tmp_path):
    """A run folder as the chapters leave it: predictions, operating point, robustness, thumbnails."""
    run = tmp_path / "20261201-110000-default"
    run.mkdir()
    predictions().to_csv(run / "test_predictions.csv", index=False)
    (run / "operating_point.json").write_text(json.dumps(POINT))
    changes().to_csv(run / "robustness.csv", index=False)
    wrong = predictions().iloc[[4, 6]].assign(score=[0.1, 0.9], true_class=["defect", "ok"],
                                              verdict_at_threshold=["ok", "defect"], confidence=[0.9, 0.9])
    photos = [np.full((160, 160), 120, np.uint8)] * 2
    cams = [np.linspace(0, 1, 49).reshape(7, 7)] * 2
    plots.save_thumbnails(run, wrong, photos, cams, "mistake")
    plots.save_thumbnails(run, wrong.iloc[:0], [], [], "review")
    return run


def test_the_summary_is_one_light_file_with_the_headline_and_every_mistake_inline(run):
    page = summary.write_summary(run).read_text()
    assert "On 4 test parts the network had never seen" in page
    assert page.count("data:image/jpeg;base64,") == 2 and "p4.jpeg" in page and "p6.jpeg" in page
    assert "No test part fell in the review band." in page
    assert len(page.encode()) <= summary.MAX_SUMMARY_BYTES
    assert 'src="http' not in page and "src='http" not in page  # nothing to fetch


def test_the_summary_gives_the_cross_validated_figure_with_its_range_over_draws_once_chapter_7_wrote_it(run):
    assert "not measured by cross-validation yet" in summary.write_summary(run).read_text()
    draws = [{"seed": seed, "accuracy at 0.5": accuracy}
             for seed, accuracy in ((7, 0.991), (13, 0.979), (42, 0.9897))]
    cv = {"parts": 7348, "accuracy at 0.5": 0.9897, "interval at 0.5": [0.9804, 0.9973], "run": "2099-cv",
          "draws": draws}
    cv_results.save_never_seen(run, cv)
    page = summary.write_summary(run).read_text()
    assert "every one of 7,348 photographs judged by a network that never saw it" in page
    assert "98.97% right at a score of 0.5 (95% interval 98.0% to 99.7%" in page  # not rounded up to 99.0%
    assert "3 such runs gave 97.90% to 99.10% (mean 98.66%)" in page
    cv_results.save_never_seen(run, {**cv, "draws": draws[2:]})  # this run alone: no range to give
    assert "such runs" not in summary.write_summary(run).read_text()
    cv_results.save_never_seen(run, None)  # no cv run of the recipe any more: the old figure goes
    assert "not measured by cross-validation yet" in summary.write_summary(run).read_text()


def test_a_summary_too_heavy_to_mail_is_refused_not_written(run, monkeypatch):
    monkeypatch.setattr(summary, "MAX_SUMMARY_BYTES", 1000)
    with pytest.raises(ValueError, match="too many mistakes"):
        summary.write_summary(run)
    assert not (run / summary.SUMMARY_HTML).exists()


def test_a_run_with_chapters_missing_says_so_instead_of_guessing(tmp_path):
    said = summary.headline_html(tmp_path)
    assert "not written yet" in said and "Not measured yet" in said


@pytest.mark.slow
def test_the_summary_prints_to_a_pdf_holding_the_headline(run):
    if not (summary.chromium() and shutil.which("pdftotext")):
        pytest.skip("needs Debian's chromium and poppler-utils (`make browser` installs both)")
    summary.write_summary(run)
    summary.print_pdf(run / summary.SUMMARY_HTML, run / summary.SUMMARY_PDF)
    text = subprocess.run(["pdftotext", str(run / summary.SUMMARY_PDF), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "On 4 test parts the network had never seen" in " ".join(text.split())
    summary.pdf_first_page_png(run / summary.SUMMARY_PDF, run / "first.png")
    assert (run / "first.png").read_bytes()[:4] == b"\x89PNG"


def split_table() -> pd.DataFrame:
    """Nine photos: group 1 filed five times ok and twice defect; group 2 clean."""
    return pd.DataFrame({"path": [f"/d/{s}/{i}.jpeg" for i, s in enumerate(["train"] * 5 + ["val"] * 2
                                                                            + ["test"] * 2)],
                         "split": ["train"] * 5 + ["val"] * 2 + ["test"] * 2,
                         "class_name": ["ok_front"] * 5 + ["def_front"] * 2 + ["ok_front"] * 2,
                         "twin_group": [1] * 7 + [2] * 2, "label_conflict": [True] * 7 + [False] * 2})


def test_a_mixed_near_twin_group_puts_its_smaller_class_in_the_audit():
    found = audit.mixed_groups(split_table())
    assert sorted(found.path) == ["/d/val/5.jpeg", "/d/val/6.jpeg"]
    assert found.evidence.iloc[0].startswith("2 of 7 photos of its group are filed as def_front")


def test_only_a_part_every_seed_got_wrong_is_in_the_audit():
    rows = [(seed, "/d/test/7.jpeg", 0.9) for seed in (1, 2, 3)] + [
        (1, "/d/test/8.jpeg", 0.9), (2, "/d/test/8.jpeg", 0.1), (3, "/d/test/8.jpeg", 0.9)]
    scored = pd.DataFrame(rows, columns=["seed", "path", "score"]).assign(split="test", class_name="ok_front",
                                                                          label=0)
    found = audit.always_wrong(scored, split_table())
    assert found.path.tolist() == ["/d/test/7.jpeg"] and found.twin_group.tolist() == [2]
    assert found.reason.iloc[0] == "every one of 3 seeds got it wrong"


def test_a_confident_out_of_fold_mistake_is_in_the_audit_and_an_unsure_one_is_not():
    oof = pd.DataFrame({"path": ["/d/test/7.jpeg", "/d/test/8.jpeg"], "label": [0, 0], "score": [0.97, 0.7],
                        "split": "test", "twin_group": 2})
    found = audit.sure_and_wrong(oof, split_table())
    assert found.path.tolist() == ["/d/test/7.jpeg"] and found.split.tolist() == ["test"]
