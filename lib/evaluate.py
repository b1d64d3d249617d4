"""How good the scores are: metrics at a threshold, sweeps, confusion, headline tables, test figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, classification_report, confusion_matrix, roc_auc_score

from lib.decision import choose_threshold
from lib.splits import hold_out_groups

FIGURES = ["accuracy", "recall", "f1", "fn", "fp"]

REPEAT_PREDICTIONS = "repeat_predictions.csv"  # `make repeat`'s scores per seed and part
REPEAT_SETTINGS = "repeat.json"  # and what it ran on

def threshold_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 for the defect class and the confusion counts at a threshold."""
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(np.asarray(labels).astype(int), predicted, labels=[0, 1]).ravel()
    n = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"threshold": float(threshold), "n": int(n), "accuracy": (tp + tn) / n if n else float("nan"),
            "precision": precision, "recall": recall, "f1": f1,
            "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}


def threshold_sweep(labels: np.ndarray, scores: np.ndarray,
                    thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """threshold_metrics at each threshold (default 0.05 to 0.95 by 0.05), one row each."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2)
    rows = [threshold_metrics(labels, scores, t) for t in thresholds]
    return pd.DataFrame(rows).rename(columns={"fn": "missed defects (FN)",
                                              "fp": "scrapped good parts (FP)"})


def confusion_table(labels: np.ndarray, scores: np.ndarray, threshold: float) -> pd.DataFrame:
    """Confusion counts: rows actual ok/defect, columns predicted ok/defect."""
    m = threshold_metrics(labels, scores, threshold)
    counts = [[m["tn"], m["fp"]], [m["fn"], m["tp"]]]
    return pd.DataFrame(counts, index=pd.Index(["ok", "defect"], name="actual"),
                        columns=pd.Index(["ok", "defect"], name="predicted"))


def classification_text(labels: np.ndarray, scores: np.ndarray, threshold: float) -> str:
    """scikit-learn's classification report with four digits, at a threshold."""
    predicted = (np.asarray(scores) >= threshold).astype(int)
    return classification_report(np.asarray(labels).astype(int), predicted, labels=[0, 1],
                                 target_names=["ok", "defect"], digits=4, zero_division=0)


def headline_table(labels: np.ndarray, scores: np.ndarray, threshold: float,
                   subsets: dict[str, np.ndarray]) -> pd.DataFrame:
    """Headline figures at a threshold, one column per named subset (a boolean mask of rows)."""
    columns = {}
    for name, mask in subsets.items():
        y, s = np.asarray(labels)[mask], np.asarray(scores)[mask]
        m = threshold_metrics(y, s, threshold)
        columns[name] = {"parts": m["n"], "accuracy": m["accuracy"], "precision": m["precision"],
                         "recall": m["recall"], "F1": m["f1"], "missed defects (FN)": m["fn"],
                         "scrapped good parts (FP)": m["fp"],
                         "ROC AUC": roc_auc_score(y, s) if len(set(y)) == 2 else float("nan"),
                         "Brier score": brier_score_loss(y, s) if len(y) else float("nan")}
    return pd.DataFrame(columns)


def test_figures(scored: pd.DataFrame, rule: str, cost_missed_defect: float, cost_scrapped_good: float,
                 scrap_budget: float) -> list[dict]:
    """A run's test figures at 0.5 and at the operating point its rule chooses on the validation rows, from
    its scored validation and test rows (scoring.score_held_out)."""
    val, test = scored[scored["split"] == "val"], scored[scored["split"] == "test"]
    chosen, _ = choose_threshold(val["label"], val["score"], rule, cost_missed_defect, cost_scrapped_good,
                                 scrap_budget)
    rows = []
    for name, threshold in (("0.5", 0.5), (f"operating point ({rule})", chosen)):
        m = threshold_metrics(test["label"], test["score"], threshold)
        rows.append({"threshold rule": name, "threshold": threshold, **{k: m[k] for k in FIGURES}})
    return rows


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of each figure per threshold rule, over the seeds."""
    return runs.groupby("threshold rule")[FIGURES].agg(["mean", "std"]).round(4)


def group_bootstrap_interval(correct: np.ndarray, groups: np.ndarray, reps: int = 2000, level: float = 0.95,
                             seed: int = 0) -> tuple[float, float]:
    """Interval of a pooled rate (e.g. accuracy) from resampling near-twin groups, not images."""
    correct, groups = np.asarray(correct, dtype=float), np.asarray(groups)
    _, index = np.unique(groups, return_inverse=True)
    hits, sizes = np.bincount(index, weights=correct), np.bincount(index).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(sizes), (reps, len(sizes)))
    rates = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(rates, tail)), float(np.quantile(rates, 1 - tail))


def fold_figures(scores: pd.DataFrame, rule: str, cost_missed_defect: float, cost_scrapped_good: float,
                 scrap_budget: float) -> pd.DataFrame:
    """Per fold of cross-validation scores (columns fold, split val/test, label, score): the held-out
    fold's accuracy, missed defects and scrapped good parts at 0.5 and at the threshold its own
    validation chose by `rule`."""
    rows = []
    for fold, part in scores.groupby("fold"):
        val, test = part[part["split"] == "val"], part[part["split"] == "test"]
        threshold, _ = choose_threshold(val["label"], val["score"], rule, cost_missed_defect,
                                        cost_scrapped_good, scrap_budget)
        half, chosen = (threshold_metrics(test["label"], test["score"], t) for t in (0.5, threshold))
        rows.append({"fold": fold, "parts": half["n"], "defects": int(test["label"].sum()),
                     "accuracy at 0.5": half["accuracy"], "missed at 0.5": half["fn"],
                     "scrapped at 0.5": half["fp"], "threshold": threshold,
                     "accuracy at threshold": chosen["accuracy"], "missed at threshold": chosen["fn"],
                     "scrapped at threshold": chosen["fp"]})
    return pd.DataFrame(rows)


def rule_name(rule: str, scrap_budget: float, cost_missed_defect: float, cost_scrapped_good: float) -> str:
    """A threshold rule with its setting, as compare_rules names it: 'scrap_budget 1%', 'min_cost 50'."""
    if rule == "scrap_budget":
        return f"scrap_budget {scrap_budget * 100:g}%"
    return f"min_cost {cost_missed_defect / cost_scrapped_good:g}" if rule == "min_cost" else rule


def rule_candidates(scrap_budget: float, cost_missed_defect: float, cost_scrapped_good: float
                    ) -> dict[str, dict]:
    """The threshold rules compare_rules weighs, by rule_name: choose_threshold's keywords for each."""
    costs = {"cost_missed_defect": cost_missed_defect, "cost_scrapped_good": cost_scrapped_good}
    budgets = sorted({0.01, 0.02, 0.03, 0.05, scrap_budget})
    keywords = [{"rule": "scrap_budget", "scrap_budget": b} for b in budgets]
    keywords += [{"rule": "min_cost", **costs}, {"rule": "full_recall"}]
    return {rule_name(k["rule"], k.get("scrap_budget", 0.0), cost_missed_defect, cost_scrapped_good): k
            for k in keywords}


def compare_rules(validation: pd.DataFrame, candidates: dict[str, dict], cost_missed_defect: float,
                  cost_scrapped_good: float, halvings: int = 20, seed: int = 0) -> pd.DataFrame:
    """Each rule chosen on half of a fold's validation near-twin groups and counted on the other half, both
    ways round, `halvings` times a fold: shares shipped and scrapped, cost per part, pooled and per fold.

    validation has the columns fold, label, score and twin_group of validation parts only, so a rule is
    chosen without looking at any held-out part. A half without both good and defective parts chooses
    nothing (every rule needs its class); a table of no rows says no fold had two such halves.
    """
    rows = []
    for fold, part in validation.groupby("fold"):
        part = part.reset_index(drop=True)
        labels, scores = part["label"].to_numpy().astype(int), part["score"].to_numpy(dtype=float)
        if part["twin_group"].nunique() < 2:
            continue
        for halving in range(halvings):
            half = part.index.isin(hold_out_groups(part.index, part["label"], part["twin_group"],
                                                   len(part) / 2, seed + halving))
            for fit, check in ((half, ~half), (~half, half)):
                if len(np.unique(labels[fit])) < 2:
                    continue
                defect, checked = labels[check] == 1, scores[check]
                for name, keywords in candidates.items():
                    threshold, _ = choose_threshold(labels[fit], scores[fit], **keywords)
                    said = checked >= threshold
                    rows.append({"rule": name, "fold": fold, "threshold": threshold,
                                 "defects": int(defect.sum()), "good": int((~defect).sum()),
                                 "shipped": int((~said & defect).sum()),
                                 "scrapped": int((said & ~defect).sum())})
    counts = pd.DataFrame(rows, columns=["rule", "fold", "threshold", "defects", "good", "shipped",
                                         "scrapped"])
    counts["cost"] = cost_missed_defect * counts["shipped"] + cost_scrapped_good * counts["scrapped"]
    pooled = counts.groupby("rule", sort=False)[["defects", "good", "shipped", "scrapped", "cost"]].sum()
    per_fold = counts.groupby(["rule", "fold"], sort=False)[["defects", "good", "cost"]].sum()
    fold_cost = (per_fold["cost"] / (per_fold["defects"] + per_fold["good"])).unstack("fold")
    return pd.DataFrame({
        "defects shipped": pooled["shipped"] / pooled["defects"],
        "good parts scrapped": pooled["scrapped"] / pooled["good"],
        "cost per part": pooled["cost"] / (pooled["defects"] + pooled["good"]),
        "median threshold": counts.groupby("rule", sort=False)["threshold"].median(),
        **{f"cost per part, fold {int(fold) + 1}": fold_cost[fold] for fold in fold_cost.columns},
    }).rename_axis("rule").reset_index()
