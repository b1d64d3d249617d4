"""`make cv`: every image held out once with its near-twins, figures per fold and pooled, and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import compare, cv
from lib.crossval import cv_settings
from lib.cv_results import (
    changes_over_draws,
    cv_runs,
    draw_table,
    draws_by_seed,
    draws_of,
    never_seen,
    paired_changes,
    paired_draws,
    summarise_cv,
    weighed_rules,
)
from lib.evaluate import compare_rules, group_bootstrap_interval, rule_candidates
from lib.narrative import (
    changes_over_draws_sentences,
    draws_range_sentence,
    draws_sentences,
    never_seen_sentences,
    photograph_sentence,
    rule_choice_sentences,
)
from lib.params import default_params, resolve_params
from lib.runs import data_fingerprint
from lib.settings import RECIPE_ADDED
from lib.splits import cv_folds
from lib.train import recipe_of, save_recipe


def test_every_group_is_held_out_in_exactly_one_fold_and_validation_takes_whole_groups():
    rng = np.random.default_rng(0)
    groups = pd.Series(np.r_[np.repeat(0, 40), np.repeat(np.arange(1, 150), rng.integers(1, 5, 149))])
    table = pd.DataFrame({"path": [f"p{i}" for i in range(len(groups))], "label": (groups % 2).to_numpy()})
    folds = cv_folds(table, groups, k=5, val_fraction=0.2, seed=0)
    held = pd.concat([f.loc[f.split == "test", "fold"] for f in folds])
    assert held.index.sort_values().tolist() == list(range(len(table)))  # each image held out once
    assert (held.groupby(groups[held.index]).nunique() == 1).all()  # with all its near-twins
    for fold in folds:
        assert (fold.groupby(groups)["split"].nunique() == 1).all()  # no group straddles two splits
        assert (fold.loc[groups == 0, "split"] != "val").all()  # the long chain never validates
        assert 0.1 < (fold.split == "val").mean() < 0.25


def test_the_interval_is_over_groups_so_a_big_group_of_mistakes_widens_it():
    correct = np.r_[np.zeros(50), np.ones(450)]
    spread = group_bootstrap_interval(correct, np.arange(500))  # 500 independent parts
    clumped = group_bootstrap_interval(correct, np.r_[np.zeros(50, int), np.arange(1, 451)])  # one photo
    assert spread[0] < 0.9 < spread[1] and clumped[1] - clumped[0] > 2 * (spread[1] - spread[0])


@pytest.mark.slow
def test_cv_scores_every_image_once_and_continues_after_an_interruption(tmp_path, casting_tree, capsys):
    params = tmp_path / "tiny.yaml"
    params.write_text(f"data_dir: {casting_tree}\nimage_size: 32\nbatch_size: 8\nepochs: 1\nverbose: 0\n"
                      "test_time_views: 1\nthreshold_rule: min_cost\n")
    argv = ["--k", "3", "--params", str(params), "--outputs", str(tmp_path / "out")]
    assert cv.main(argv) == 0
    printed = capsys.readouterr().out
    assert "fold 3/3 done" in printed and "parts never seen, pooled over 3 folds" in printed
    (run,) = (tmp_path / "out").glob("*-cv")
    oof = pd.read_csv(run / "oof_predictions.csv")
    assert sorted(oof.path) == sorted(str(p) for p in casting_tree.rglob("*.jpeg"))
    assert (oof.groupby("twin_group").fold.nunique() == 1).all()
    summary = json.loads((run / "cv_summary.json").read_text())
    assert summary["parts"] == 52 and summary["folds"] == 3
    assert summary["interval at 0.5"][0] <= summary["accuracy at 0.5"] <= summary["interval at 0.5"][1]
    assert len(pd.read_csv(run / "cv_folds.csv")) == 3
    assert "the threshold rules, each chosen on half of a fold's validation parts" in printed
    weighed = pd.read_csv(run / "cv_rules.csv")  # the rules weighed on validation parts alone
    assert list(weighed.columns[:3]) == ["rule", "defects shipped", "good parts scrapped"]
    # interrupted after fold 2: the summary and fold 3 are gone; a new call finishes the same run
    kept = (run / "fold-1" / "scores.csv").stat().st_mtime_ns
    (run / "cv_summary.json").unlink()
    (run / "cv_robustness.csv").unlink()
    (run / "fold-3" / "scores.csv").unlink()
    assert cv.main(argv) == 0
    assert f"continuing in {run}" in capsys.readouterr().out
    assert (run / "fold-1" / "scores.csv").stat().st_mtime_ns == kept and (run / "cv_summary.json").is_file()
    assert [p.name for p in (tmp_path / "out").glob("*-cv*")] == [run.name]
    assert len(pd.read_csv(run / "cv_robustness.csv")) == 17  # unchanged, and 8 changes at 2 strengths
    assert cv.main(argv) == 0 and "already done" in capsys.readouterr().out  # done: not trained again
    assert pd.read_csv(run / "oof_predictions.csv").equals(oof)  # the resumed fold scores the same
    # a report run trained with the same recipe finds this cv run; another recipe does not
    model_run = tmp_path / "out" / "20990101-000000-default"
    model_run.mkdir()
    save_recipe(model_run, recipe_of(resolve_params(params)))
    oof_again, folds, found = never_seen(model_run, str(casting_tree), "min_cost", 50.0, 1.0, 0.02, 0.1, 0.9)
    assert found["run"] == run.name and found["k"] == 3 and len(folds) == 3 and len(oof_again) == 52
    assert found["rule name"] == "min_cost 50"
    assert weighed_rules(found["run dir"], 0.02, 50.0, 1.0).round(12).equals(weighed.round(12))
    text = never_seen_sentences(found)
    assert "never seen" in text and "3-fold cross-validation" in text
    save_recipe(model_run, {**recipe_of(resolve_params(params)), "epochs": 2})
    assert never_seen(model_run, str(casting_tree), "min_cost", 50.0, 1.0, 0.02, 0.1, 0.9) is None
    assert "not measured yet" in never_seen_sentences(None)
    # another draw: the recipe with another seed is a new run, and both runs are the recipe's draws
    assert cv.main(argv + ["--seed", "7"]) == 0
    assert "every draw of this recipe (seeds 7, 42;" in capsys.readouterr().out
    (seven,) = [other for other in (tmp_path / "out").glob("*-cv") if other != run]
    assert json.loads((seven / "cv.json").read_text())["recipe"]["seed"] == 7
    assert draws_of(run) == draws_of(seven) == [seven, run]
    save_recipe(model_run, recipe_of(resolve_params(params)))  # seed 42's recipe again: both are its draws
    *_, found = never_seen(model_run, str(casting_tree), "min_cost", 50.0, 1.0, 0.02, 0.1, 0.9)
    assert [draw["seed"] for draw in found["draws"]] == [7, 42] and found["run"] == run.name
    changes = [(row["change"], row["draws"]) for row in found["changes over draws"]]
    assert changes[:2] == [("none", 2), ("darker", 2)]  # chapter 6's changes over both draws
    assert " Over 2 draws of this recipe" in never_seen_sentences(found)


def _cv_run(outputs, name: str, seed: int, k: int = 5, finished: bool = True, accuracy: float = 1.0,
            changed: dict | None = None, data_sha256: str = "abc") -> Path:
    """A cv run folder of the default recipe (with changed settings) and this seed: one fold of 100 held-out
    photographs, a share accuracy of them judged right at 0.5, and ten validation ones."""
    run = outputs / name
    (run / "fold-1").mkdir(parents=True)
    recipe = {**recipe_of({**default_params(), **(changed or {})}), "seed": seed}
    settings = {"recipe": recipe, "views": 8, "k": k, "data_sha256": data_sha256}
    (run / "cv.json").write_text(json.dumps(settings))
    right = round(100 * accuracy)
    held = [("test", label, 0.9 if (i < right) == (label == 1) else 0.1, i) for i in range(100)
            for label in [i % 2]]
    val = [("val", i % 2, 0.9 if i % 2 else 0.1, 100 + i) for i in range(10)]
    scores = pd.DataFrame(held + val, columns=["split", "label", "score", "twin_group"])
    scores.assign(path=[f"{name}-{i}" for i in range(len(scores))], fold=0).to_csv(
        run / "fold-1" / "scores.csv", index=False)
    if finished:
        (run / "cv_summary.json").write_text("{}")
    return run


def test_the_draws_of_a_cv_run_are_the_finished_runs_of_its_recipe_with_any_seed_the_newest_of_each(tmp_path):
    ours = _cv_run(tmp_path, "20990101-000003-cv", 42)
    older_same_seed = _cv_run(tmp_path, "20990101-000001-cv", 42)
    seven = _cv_run(tmp_path, "20990101-000002-cv", 7)
    _cv_run(tmp_path, "20990101-000004-cv", 11, finished=False)  # still training
    _cv_run(tmp_path, "20990101-000005-cv", 13, k=3)  # other folds, not another draw of these
    other_recipe = _cv_run(tmp_path, "20990101-000006-cv", 5)
    saved = json.loads((other_recipe / "cv.json").read_text())
    (other_recipe / "cv.json").write_text(json.dumps({**saved, "recipe": {**saved["recipe"], "epochs": 3}}))
    assert draws_of(ours) == draws_of(seven) == [seven, ours]
    assert older_same_seed not in draws_of(ours)


def test_the_draws_table_gives_each_draws_figures_and_the_sentences_their_spread(tmp_path):
    runs = [_cv_run(tmp_path, f"20990101-00000{i}-cv", seed, accuracy=accuracy)
            for i, (seed, accuracy) in enumerate([(42, 0.97), (7, 0.99), (11, 1.0)])]
    draws = draw_table(draws_of(runs[0]), "scrap_budget", 50.0, 1.0, 0.01, 0.1, 0.9)
    assert list(draws["seed"]) == [7, 11, 42]
    assert list(draws["accuracy at 0.5"]) == pytest.approx([0.99, 1.0, 0.97])
    assert list(draws["photographs wrong at 0.5"]) == [1, 0, 3]
    summary = {"run": runs[0].name, "draws": draws.to_dict("records")}
    text = draws_sentences(summary)
    assert "**Over 3 draws of this recipe** (seeds 7, 11, 42" in text and "the run above is seed 42" in text
    assert "**97.00% to 100.00% (mean 98.67%)**" in text and "2 of 3 draws at 99% or more" in text
    assert "between **97.00% and 100.00%** of never-seen parts" in draws_range_sentence(summary)
    alone = {**summary, "draws": summary["draws"][:1]}
    assert "One draw of this recipe so far" in draws_sentences(alone)
    assert "`make cv SEED=8`" in draws_sentences(alone)
    assert draws_range_sentence(alone) == draws_range_sentence({}) == ""


def test_the_shop_floor_changes_are_summed_up_over_the_draws_and_the_sentence_names_the_weakest(tmp_path):
    rows = {  # per draw: (accuracy at 0.5, shipped by the line) as taken, under light x1.4 and under blur 2
        42: [(0.99, 0), (0.96, 1), (0.985, 0)], 7: [(0.98, 0), (0.93, 0), (0.97, 0)],
        11: [(1.0, 0), (0.94, 2), (0.99, 1)]}
    runs = []
    for i, (seed, figures) in enumerate(rows.items()):
        run = _cv_run(tmp_path, f"20990101-00000{i}-cv", seed)
        pd.DataFrame({"change": ["none", "brighter", "blur"], "strength": [0.0, 0.4, 2.0],
                      "accuracy at 0.5": [a for a, _ in figures],
                      "shipped by the line": [s for _, s in figures]}).to_csv(run / "cv_robustness.csv",
                                                                              index=False)
        runs.append(run)
    older = pd.read_csv(runs[1] / "cv_robustness.csv")  # seed 7: the first draw, saved before the line counts
    older.drop(columns="shipped by the line").to_csv(runs[1] / "cv_robustness.csv", index=False)
    runs.append(_cv_run(tmp_path, "20990101-000009-cv", 13))  # a draw without the changes scored is left out
    table = changes_over_draws(draws_of(runs[0])).set_index("change")
    assert table.loc["brighter", "draws"] == 3 and table.loc["none", "draws"] == 3
    assert table.loc["brighter", "mean accuracy at 0.5"] == pytest.approx(0.9433, abs=1e-4)
    assert (table.loc["brighter", "lowest"], table.loc["brighter", "highest"]) == (0.93, 0.96)
    assert table.loc["brighter", "draws at 95% or more"] == 1
    assert table.loc["blur", "draws at 98% or more"] == 2
    assert table.loc["brighter", "shipped by the line, all draws"] == 3
    assert table.loc["brighter", "most shipped by the line in a draw"] == 2
    text = changes_over_draws_sentences({"changes over draws": changes_over_draws(runs).to_dict("records")})
    assert "**Over 3 draws**" in text and "are 99.00% right at 0.5 as taken" in text
    assert "under 1 of the 2 changes they lose at most a point" in text
    assert "**brighter (0.4)**: 94.33% on average (93.00% to 96.00%), at 95% or more in 1 of 3" in text
    assert "would ship 3 defects over all draws (at most 2 in one)" in text
    assert "`make cv`" in changes_over_draws_sentences({"changes over draws": []})
    assert changes_over_draws([runs[-1]]).empty


def test_a_candidate_is_paired_with_the_base_seed_by_seed_and_a_seed_only_one_drew_is_left_out(tmp_path):
    def draws(changed: dict) -> dict:
        return draws_by_seed(tmp_path, cv_settings({**default_params(), **changed}, 5, "abc"))

    half = {"batch_size": 16}
    for i, (seed, accuracy, seconds) in enumerate([(7, 0.97, 90.0), (11, 0.99, 95.0), (13, 1.0, 80.0)]):
        run = _cv_run(tmp_path, f"20990101-00000{i}-cv", seed, accuracy=accuracy)
        (run / "fold-1" / "train_summary.json").write_text(json.dumps({"train_seconds": seconds}))
    for i, (seed, accuracy) in enumerate([(7, 0.99), (11, 0.98), (17, 1.0)]):
        run = _cv_run(tmp_path, f"20990102-00000{i}-cv", seed, accuracy=accuracy, changed=half)
        (run / "fold-1" / "train_summary.json").write_text(json.dumps({"train_seconds": 120.0}))
    base, candidate = draws({}), draws(half)
    assert list(base) == [7, 11, 13] and list(candidate) == [7, 11, 17]
    pairs = paired_draws(base, candidate, "scrap_budget", 50.0, 1.0, 0.01, 0.1, 0.9)
    assert list(zip(pairs["seed"], pairs["recipe"])) == [(7, "base"), (7, "candidate"), (11, "base"),
                                                         (11, "candidate")]
    assert list(pairs["accuracy at 0.5"]) == pytest.approx([0.97, 0.99, 0.99, 0.98])
    assert list(pairs["training s per fold"]) == [90.0, 120.0, 95.0, 120.0]
    assert compare.wins(pairs) == 1
    means = compare.mean_of_pairs(pairs)
    assert means.loc["candidate", "accuracy at 0.5"] == pytest.approx(0.985)
    assert means.loc["base", "photographs wrong at 0.5, all draws"] == 4  # 3 + 1, summed
    for runs, light in ((base, [0.96, 0.94, 0.5]), (candidate, [0.97, 0.97, 0.5])):  # seed 13/17 left out
        for run, accuracy in zip(runs.values(), light):
            pd.DataFrame({"change": ["brighter"], "strength": [0.4], "accuracy at 0.5": [accuracy]}).to_csv(
                run / "cv_robustness.csv", index=False)
    changes = paired_changes(base, candidate).iloc[0]  # over seeds 7 and 11 alone
    assert (changes["base"], changes["candidate"]) == pytest.approx((0.95, 0.97))
    assert changes["difference"] == pytest.approx(0.02)


def test_compare_prints_each_pair_and_says_which_draws_are_missing(tmp_path, casting_tree, capsys):
    base, candidate = tmp_path / "base.yaml", tmp_path / "half.yaml"
    base.write_text(f"data_dir: {casting_tree}\n")
    candidate.write_text(f"data_dir: {casting_tree}\nbatch_size: 16\n")
    sha, out = data_fingerprint(casting_tree)["sha256"], tmp_path / "out"
    argv = ["--params", str(candidate), "--base", str(base), "--outputs", str(out)]
    _cv_run(out, "20990101-000001-cv", 7, accuracy=0.97, data_sha256=sha)
    assert compare.main(argv) == 1
    said = capsys.readouterr().err
    assert f"of both {candidate} (seeds none) and {base} (seeds 7)" in said and "make cv PARAMS=" in said
    _cv_run(out, "20990101-000002-cv", 7, accuracy=0.99, data_sha256=sha, changed={"batch_size": 16})
    assert compare.main(argv) == 0
    printed = capsys.readouterr().out
    assert "1 paired draws (seeds 7)" in printed and "the candidate higher at 0.5 in 1 of 1 draws" in printed
    assert "97.0" in printed and "99.0" in printed  # each side's accuracy, as a percentage


def test_cv_refuses_a_negative_seed(capsys):
    assert cv.main(["--seed", "-1"]) == 2 and "--seed must be 0 or more, got -1" in capsys.readouterr().err


def test_a_cv_run_saved_before_a_setting_existed_matches_the_recipe_only_at_that_settings_old_value(tmp_path):
    recipe = {**recipe_of(default_params()), **RECIPE_ADDED}  # each added setting at the value runs had then
    older = {k: v for k, v in recipe.items() if k not in RECIPE_ADDED}  # as saved before they existed
    run = tmp_path / "20990101-000000-cv"
    run.mkdir()
    (run / "cv.json").write_text(json.dumps({"recipe": older, "data_sha256": "abc"}))
    (run / "cv_summary.json").write_text("{}")
    assert cv_runs(tmp_path, recipe, "abc") == [run]
    assert cv_runs(tmp_path, {**recipe, "ema_momentum": 0.99}, "abc") == []
    assert cv_runs(tmp_path, {**recipe, "weight_decay": 0.05}, "abc") == []
    assert cv_runs(tmp_path, {**recipe, "networks": 2}, "abc") == []
    assert cv_runs(tmp_path, {**recipe, "pooling": "avgmax"}, "abc") == []
    assert cv_runs(tmp_path, {**recipe, "label_smoothing": 0.1}, "abc") == []
    assert cv_runs(tmp_path, recipe, "another data set") == []


def test_cv_refuses_fewer_than_two_folds(capsys):
    assert cv.main(["--k", "1"]) == 2 and "--k must be at least 2" in capsys.readouterr().err


def test_the_rules_mistakes_are_also_counted_once_per_photograph_however_many_views_it_has():
    val = [("v-good", 0, 0.1, 90), ("v-bad", 1, 0.9, 91)]
    held = [(f"many-{i}", 0, 0.6, 1) for i in range(10)] + [("lone-good", 0, 0.05, 2)]
    held += [("miss-1", 1, 0.02, 3), ("miss-2", 1, 0.03, 3), ("caught", 1, 0.95, 4)]
    rows = [(path, 0, "val", label, score, group) for path, label, score, group in val]
    rows += [(path, 0, "test", label, score, group) for path, label, score, group in held]
    scores = pd.DataFrame(rows, columns=["path", "fold", "split", "label", "score", "twin_group"])
    _, _, summary = summarise_cv(scores, "scrap_budget", 50.0, 1.0, 0.0, 0.1, 0.9)
    assert (summary["scrapped at rule"], summary["good"]) == (10, 11)  # one photograph's ten views
    assert (summary["good photographs scrapped at rule"], summary["good photographs"]) == (1, 2)
    assert (summary["defective photographs shipped at rule"], summary["defective photographs"]) == (1, 2)
    assert "1 of 2 good ones be scrapped" in photograph_sentence(summary)


def _validation_of_two_good_photographs() -> pd.DataFrame:
    """One fold's validation: two good photographs of ten views (scoring 0.3 and 0.1), two defective (0.9)."""
    rows = [(0, 0, 0.3, "A"), (0, 0, 0.1, "B"), (0, 1, 0.9, "C"), (0, 1, 0.9, "D")]
    return pd.DataFrame([row for row in rows for _ in range(10)],
                        columns=["fold", "label", "score", "twin_group"])


def test_each_rule_is_counted_on_the_validation_half_it_did_not_choose_on():
    zero_budget = {"no scrap": {"rule": "scrap_budget", "scrap_budget": 0.0}}
    rules = compare_rules(_validation_of_two_good_photographs(), zero_budget, 50.0, 1.0, halvings=3)
    # chosen above photograph B's 0.1, counted on A's 0.3: all of A scrapped; chosen above A: none of B.
    # Counted on the half it chose on, it would scrap nothing.
    assert rules.set_index("rule").loc["no scrap", "good parts scrapped"] == pytest.approx(0.5)
    assert rules.set_index("rule").loc["no scrap", "defects shipped"] == 0


def test_a_larger_scrap_budget_scraps_more_validation_parts_and_ships_no_more():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), 3)
    labels = np.repeat(rng.integers(0, 2, 300), 3)
    scores = np.clip(np.where(labels == 1, 0.7, 0.2) + rng.normal(0, 0.2, len(labels)), 0, 1)
    validation = pd.DataFrame({"fold": groups % 2, "label": labels, "score": scores, "twin_group": groups})
    rules = compare_rules(validation, rule_candidates(0.02, 50.0, 1.0), 50.0, 1.0).set_index("rule")
    budgets = rules.loc[["scrap_budget 1%", "scrap_budget 2%", "scrap_budget 3%", "scrap_budget 5%"]]
    assert budgets["good parts scrapped"].is_monotonic_increasing
    assert budgets["defects shipped"].is_monotonic_decreasing
    assert {"cost per part, fold 1", "cost per part, fold 2", "min_cost 50", "full_recall"} <= \
        set(rules.columns) | set(rules.index)


def test_halves_without_both_kinds_of_part_choose_nothing_rather_than_fail():
    only_good = pd.DataFrame({"fold": 0, "label": 0, "score": [0.1, 0.2, 0.3, 0.4],
                              "twin_group": [1, 2, 3, 4]})
    assert compare_rules(only_good, rule_candidates(0.02, 50.0, 1.0), 50.0, 1.0).empty


def test_the_rules_shipped_and_scrapped_shares_carry_intervals_over_photographs():
    val = [(0, "val", 0, 0.55, 90), (0, "val", 1, 0.9, 91)]  # the rule caps its threshold at 0.5
    held = [(0, "test", 0, 0.6 if g < 3 else 0.2, g) for g in range(20) for _ in range(5)]
    held += [(0, "test", 1, 0.3 if g < 22 else 0.8, g) for g in range(20, 40) for _ in range(5)]
    scores = pd.DataFrame(val + held, columns=["fold", "split", "label", "score", "twin_group"])
    scores["path"] = [f"p{i}" for i in range(len(scores))]
    _, _, summary = summarise_cv(scores, "scrap_budget", 50.0, 1.0, 0.0, 0.1, 0.9)
    shipped = summary["missed at rule"] / summary["defects"]
    scrapped = summary["scrapped at rule"] / summary["good"]
    assert (shipped, scrapped) == (pytest.approx(0.1), pytest.approx(0.15))
    for share, key in ((shipped, "interval shipped at rule"), (scrapped, "interval scrapped at rule")):
        low, high = summary[key]
        assert low < share < high and high - low > 0.1  # 20 photographs of 5 views: a wide interval
    text = never_seen_sentences({**summary, "k": 1, "run": "r"})
    assert f"(10.0%, 95% interval {summary['interval shipped at rule'][0]:.1%}" in text


def test_the_chapter_says_which_rule_costs_least_on_validation_and_where_the_runs_rule_ranks():
    rules = pd.DataFrame({"rule": ["scrap_budget 1%", "scrap_budget 2%", "min_cost 50"],
                          "defects shipped": [0.004, 0.0039, 0.0043],
                          "good parts scrapped": [0.018, 0.03, 0.08],
                          "cost per part": [0.1483, 0.1506, 0.1791]})
    summary = {"rule name": "scrap_budget 2%", "cost ratio": 50.0}
    text = rule_choice_sentences(rules, summary)
    assert "**scrap_budget 1% costs least there** (0.1483 a part" in text
    assert "This run's rule, scrap_budget 2%, ranks 2 of 3: 0.1506 a part" in text
    cheapest = rule_choice_sentences(rules, {**summary, "rule name": "scrap_budget 1%"})
    assert cheapest.endswith("It is this run's rule.")
    assert "is not among them" in rule_choice_sentences(rules, {**summary, "rule name": "full_recall"})
    assert "too few" in rule_choice_sentences(rules.iloc[:0], summary)
