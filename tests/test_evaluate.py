"""Metrics, threshold rules, review band, verdicts and the management sentences on small hand-made scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import decision, evaluate, narrative

LABELS = np.array([0, 0, 0, 1, 1, 1])
SCORES = np.array([0.1, 0.4, 0.7, 0.35, 0.8, 0.9])


def test_metrics_at_threshold_count_each_kind_of_mistake():
    m = evaluate.threshold_metrics(LABELS, SCORES, 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)


def test_sweep_has_one_row_per_threshold_from_005_to_095():
    sweep = evaluate.threshold_sweep(LABELS, SCORES)
    assert list(sweep.threshold) == pytest.approx(np.arange(0.05, 0.951, 0.05))
    assert sweep.loc[sweep.threshold == 0.5, "missed defects (FN)"].item() == 1


def test_full_recall_rule_takes_lowest_defect_score():
    threshold, why = decision.choose_threshold(LABELS, SCORES, "full_recall")
    assert threshold == 0.35 and "every defect" in why
    assert evaluate.threshold_metrics(LABELS, SCORES, threshold)["recall"] == 1.0


def test_full_recall_rule_never_goes_above_one_half():
    separated = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    threshold, why = decision.choose_threshold(LABELS, separated, "full_recall")
    assert threshold == 0.5 and "lowest 0.7000" in why


def test_full_recall_rule_refuses_validation_without_defects():
    with pytest.raises(ValueError, match="no defects"):
        decision.choose_threshold(np.zeros(3), np.array([0.1, 0.2, 0.3]), "full_recall")


def test_all_scores_equal_flags_everything_under_full_recall():
    threshold, _ = decision.choose_threshold(LABELS, np.full(6, 0.5), "full_recall")
    assert evaluate.threshold_metrics(LABELS, np.full(6, 0.5), threshold)["fn"] == 0


def test_min_cost_rule_trades_missed_defects_against_scrap():
    expensive_miss, _ = decision.choose_threshold(LABELS, SCORES, "min_cost", 100, 1)
    assert expensive_miss == 0.35  # catch every defect, scrap one good part
    expensive_scrap, _ = decision.choose_threshold(LABELS, SCORES, "min_cost", 1, 100)
    assert expensive_scrap == 0.8  # scrap no good part, miss one defect


def test_scrap_budget_rule_scraps_at_most_its_share_of_the_good_parts():
    labels, scores = _validation()
    for budget in (0.0, 0.01, 0.02, 0.05):
        threshold, why = decision.choose_threshold(labels, scores, "scrap_budget", scrap_budget=budget)
        scrapped = ((scores >= threshold) & (labels == 0)).sum()
        assert scrapped <= budget * (labels == 0).sum() and f"{budget:.0%}" in why
        lower = np.nextafter(threshold, -np.inf)  # any lower threshold would scrap more than the budget
        assert threshold == 0.5 or ((scores >= lower) & (labels == 0)).sum() > budget * (labels == 0).sum()


def test_scrap_budget_rule_never_goes_above_one_half_and_needs_good_parts_and_a_budget():
    separated = np.array([0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    assert decision.choose_threshold(LABELS, separated, "scrap_budget", scrap_budget=0.0)[0] == 0.5
    with pytest.raises(ValueError, match="no good parts"):
        decision.choose_threshold(np.ones(3), np.array([0.1, 0.2, 0.3]), "scrap_budget", scrap_budget=0.02)
    with pytest.raises(ValueError, match="needs a scrap_budget"):
        decision.choose_threshold(LABELS, SCORES, "scrap_budget")


def test_no_validation_defect_however_odd_moves_the_scrap_budget_threshold():
    labels, scores = _validation()
    before, _ = decision.choose_threshold(labels, scores, "scrap_budget", scrap_budget=0.02)
    moved = np.where(labels == 1, np.random.default_rng(3).uniform(0, 1, len(scores)), scores)
    assert decision.choose_threshold(labels, moved, "scrap_budget", scrap_budget=0.02)[0] == before


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="unknown threshold rule 'best'"):
        decision.choose_threshold(LABELS, SCORES, "best")


def test_review_band_sends_unsure_parts_to_a_person():
    said = decision.verdicts(SCORES, 0.5, 0.3, 0.75)
    assert list(said) == ["ok", "review", "review", "review", "defect", "defect"]
    band = decision.review_band(LABELS, SCORES, 0.5, 0.3, 0.75)
    assert band == {"review": 3, "decided": 3, "missed defects outside band": 0,
                    "scrapped good parts outside band": 0}


def test_review_band_must_be_ordered():
    with pytest.raises(ValueError, match="review_low <= review_high"):
        decision.verdicts(SCORES, 0.5, 0.8, 0.2)


def test_headline_table_reports_each_subset():
    keep = np.array([True, True, False, True, True, True])
    table = evaluate.headline_table(LABELS, SCORES, 0.5, {"all": slice(None), "clean": keep})
    assert table.loc["parts", "all"] == 6 and table.loc["parts", "clean"] == 5
    assert table.loc["scrapped good parts (FP)", "all"] == 1
    assert table.loc["scrapped good parts (FP)", "clean"] == 0


def test_verdicts_and_summary_for_management(tmp_path):
    point = decision.save_operating_point(tmp_path, 0.5, "a stated rule", "full_recall", 0.3, 0.75)
    assert decision.load_operating_point(tmp_path) == point
    scored = pd.DataFrame({"path": list("abcdef"), "label": LABELS, "score": SCORES,
                           "byte_twin_seen": [True] + [False] * 5,
                           "twin_seen": [True, False, True, True, False, False]})
    test = decision.add_verdicts(scored, point)
    assert list(test.verdict_at_threshold) == ["ok", "ok", "defect", "ok", "defect", "defect"]
    text = narrative.management_summary(test, point)
    assert "Of 6 test parts" in text and "shipped 0 defective parts" in text and "sent 3" in text
    assert "1 of these test files are byte-identical" in text and "On the 5 others it made 2 mistakes" in text
    assert "3 test parts are the same photograph" in text and "On the 3 parts" in text
    assert "it made 0 mistakes at that threshold." in text  # b, e, f are all right


def test_the_test_verdicts_chapter_4_saves_are_what_the_later_chapters_read(tmp_path):
    point = decision.save_operating_point(tmp_path, 0.5, "a stated rule", "full_recall", 0.3, 0.75)
    scored = pd.DataFrame({"path": list("abcdef"), "label": LABELS, "score": SCORES})
    saved = decision.save_test_predictions(tmp_path, scored, point)
    pd.testing.assert_frame_equal(decision.load_test_predictions(tmp_path), saved)
    assert list(saved.verdict) == list(decision.verdicts(SCORES, 0.5, 0.3, 0.75))
    with pytest.raises(FileNotFoundError, match="04_evaluate"):
        decision.load_test_predictions(tmp_path / "elsewhere")


def test_missing_operating_point_says_which_chapter_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="04_evaluate"):
        decision.load_operating_point(tmp_path)


def _validation(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores like a good network's on 300 good and 300 defective parts: most near 0 and near 1."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(300, int), np.ones(300, int)]
    return labels, np.r_[rng.beta(1, 30, 300), 1 - rng.beta(1, 30, 300)]


def test_cost_curve_counts_both_mistakes_at_each_threshold():
    curve = decision.cost_curve(LABELS, SCORES, 10, 1).set_index("threshold")
    assert curve.loc[0.5].tolist() == [1, 1, 11]  # 0.35 missed, 0.7 scrapped
    assert curve.loc[0.1].tolist() == [0, 3, 3] and curve.loc[0.9].tolist() == [2, 0, 20]


@pytest.mark.parametrize("odd", [0.0, 0.001, 0.01, 0.05, 0.2])
def test_one_odd_validation_defect_changes_few_verdicts_under_min_cost(odd):
    labels, scores = _validation()
    before, _ = decision.choose_threshold(labels, scores, "min_cost", 50, 1)
    odd_one = np.argmin(np.where(labels == 1, scores, 2))
    moved = scores.copy()
    moved[odd_one] = odd  # the lowest-scored defect now scores `odd`
    others = np.arange(len(scores)) != odd_one

    def flipped(threshold: float) -> int:  # other validation parts whose verdict the move changes
        return int((((scores >= before) != (scores >= threshold)) & others).sum())

    after, _ = decision.choose_threshold(labels, moved, "min_cost", 50, 1)
    assert flipped(after) <= 2
    full_recall, _ = decision.choose_threshold(labels, moved, "full_recall")
    assert full_recall == odd and (flipped(full_recall) > 50 or odd > 0.1)  # the old default follows it


def test_moving_any_one_score_costs_at_most_twice_a_missed_defect_at_the_new_threshold():
    labels, scores = _validation(1)

    def cost_at(threshold: float) -> float:  # on the unmoved scores
        missed = ((scores < threshold) & (labels == 1)).sum()
        return 50 * missed + ((scores >= threshold) & (labels == 0)).sum()

    best, _ = decision.choose_threshold(labels, scores, "min_cost", 50, 1)
    for i in range(0, len(scores), 7):
        for value in (0.0, 0.3, 1.0):
            moved = scores.copy()
            moved[i] = value
            chosen, _ = decision.choose_threshold(labels, moved, "min_cost", 50, 1)
            assert cost_at(chosen) <= cost_at(best) + 2 * 50
