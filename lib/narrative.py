"""The report's sentences: plain words for plant management and for analysts, computed from the figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib.decision import review_band
from lib.splits import evaluation_subsets
from lib.words import plural


def management_summary(test: pd.DataFrame, point: dict) -> str:
    """Plain sentences for plant management: shipped defects, scrapped parts, reviews, and why."""
    n, defects = len(test), int((test["true_class"] == "defect").sum())
    band = review_band(test["label"], test["score"], point["threshold"], point["review_low"],
                       point["review_high"])
    wrong = (test["verdict_at_threshold"] != test["true_class"]).to_numpy()
    _, clean, unseen = evaluation_subsets(test).values()
    return (
        f"**Of {n} test parts** ({defects} defective, {n - defects} good), the network would have "
        f"**shipped {plural(band['missed defects outside band'], 'defective part')}**, **scrapped "
        f"{plural(band['scrapped good parts outside band'], 'good part')}**, and "
        f"**sent {band['review']} to a person for review** "
        f"(scores between {point['review_low']} and {point['review_high']}).\n\n"
        f"A part is called defective when its score is at least **{point['threshold']:.4f}**: "
        f"{point['why']}. This was fixed on the validation split before the test parts were "
        f"scored.\n\n"
        f"Without the review band, deciding every part at that threshold, it would have made "
        f"{plural(int(wrong.sum()), 'mistake')} in {n} parts ({wrong.mean():.2%}).\n\n"
        f"Caution: {n - int(clean.sum())} of these test files are byte-identical copies of training "
        f"files. On the {int(clean.sum())} others it made {plural(int(wrong[clean].sum()), 'mistake')} at "
        f"that threshold. Moreover, {n - int(unseen.sum())} test parts are the same photograph as a training "
        f"part, turned, mirrored or zoomed (chapter 1). On the {int(unseen.sum())} parts the network had "
        f"truly never seen, it made {plural(int(wrong[unseen].sum()), 'mistake')} at that threshold."
    )


def why_stopped(summary: dict, patience: int, epochs: int) -> str:
    """One sentence on the best epoch and why training ended (several networks: each's, and their mean's)."""
    if "members" in summary:
        each = "; ".join(f"{'N' if n == 1 else 'n'}etwork {n}: {_stopped_words(m, patience, epochs)}"
                         for n, m in enumerate(summary["members"], 1))
        return (f"{each}. The mean of their {summary['networks']} scores, the run's network: validation loss "
                f"{summary['best_val_loss']:.4f}, accuracy {summary['best_val_accuracy']:.2%}; "
                f"{summary['train_seconds']:.0f} s of training in all.")
    words = _stopped_words(summary, patience, epochs)
    return f"{words[0].upper()}{words[1:]}."


def _stopped_words(summary: dict, patience: int, epochs: int) -> str:
    """best epoch b of n (validation loss, accuracy); training stopped early or ran all, in s of wall time."""
    reason = (f"stopped early: validation loss had not improved for {patience} epochs"
              if summary["stopped_early"] else f"ran all {epochs} epochs")
    return (f"best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(validation loss {summary['best_val_loss']:.4f}, accuracy "
            f"{summary['best_val_accuracy']:.2%}); training {reason}, in "
            f"{summary['train_seconds']:.0f} s of wall time")


def never_seen_sentences(summary: dict | None) -> str:
    """Plain sentences on parts never seen, from cross-validation, or how to measure it."""
    if summary is None:
        return ("**Parts never seen: not measured yet for this recipe.** `make cv` trains the recipe five "
                "times, each time holding out a fifth of all photographs together with every near-twin of "
                "them, so that each part is judged by a network that never saw it (about 15 minutes on two "
                "cores); this chapter then shows the figure.")
    low, high = summary["interval at 0.5"]
    return (
        f"**On parts it has never seen, the network judges {summary['accuracy at 0.5']:.1%} right** "
        f"(95% interval {low:.1%} to {high:.1%}). Measured by {summary['k']}-fold cross-validation over all "
        f"{plural(summary['parts'], 'photograph')}: each was judged by a network trained without it and "
        f"without any near-twin of it (the interval comes from resampling the "
        f"{plural(summary['groups'], 'photograph group')}; run `{summary['run']}`).\n\n"
        f"At the operating rule ({summary['rule']}, each fold's threshold chosen on its own validation "
        f"parts), **{plural(summary['missed at rule'], 'defective part')} of {summary['defects']:,} would "
        f"ship** ({summary['missed at rule'] / summary['defects']:.1%}{interval_words(summary, 'shipped')}) "
        f"and **{plural(summary['scrapped at rule'], 'good part')} of {summary['good']:,} would be "
        f"scrapped** ({summary['scrapped at rule'] / summary['good']:.1%}"
        f"{interval_words(summary, 'scrapped')}). "
        f"With scores from {summary['review_low']} to "
        f"{summary['review_high']} sent to a person, {plural(summary['review'], 'part')} would go to review, "
        f"{plural(summary['shipped with review band'], 'defective part')} would still ship and "
        f"{plural(summary['scrapped with review band'], 'good part')} would be scrapped."
        + photograph_sentence(summary) + draws_range_sentence(summary)
    )


def draws_range_sentence(summary: dict) -> str:
    """The pooled accuracy's range over the summary's draws in a sentence, where there are several."""
    accuracy = pd.DataFrame(summary.get("draws", []), columns=["accuracy at 0.5"])["accuracy at 0.5"]
    if len(accuracy) < 2:
        return ""
    return (f" Over {len(accuracy)} draws of this recipe (each `make cv` seed trains on other folds from "
            f"other first weights), between **{accuracy.min():.2%} and {accuracy.max():.2%}** of never-seen "
            f"parts were judged right at 0.5 (mean {accuracy.mean():.2%}): one run is one draw from that "
            "spread.")


def rule_choice_sentences(rules: pd.DataFrame, summary: dict) -> str:
    """How the operating rule compares with the others on the cv run's validation parts alone, in words."""
    if rules.empty:
        return ("The cross-validation run's validation parts were too few to weigh the threshold rules: each "
                "half of a fold's validation parts needs good and defective parts.")
    ranked = rules.sort_values("cost per part", kind="stable").reset_index(drop=True)
    cheapest, name = ranked.iloc[0], summary["rule name"]
    ours = ranked[ranked["rule"] == name]
    text = (f"Each rule below was chosen on half of every fold's validation photographs and counted on the "
            f"other half, never on the parts judged above. Counting a shipped defect as "
            f"{summary['cost ratio']:g} scrapped good parts, **{cheapest['rule']} costs least there** "
            f"({cheapest['cost per part']:.4f} a part: {cheapest['defects shipped']:.2%} of defects shipped, "
            f"{cheapest['good parts scrapped']:.1%} of good parts scrapped).")
    if ours.empty:
        return text + f" This run's rule, {name}, is not among them."
    if ours.index[0] == 0:
        return text + " It is this run's rule."
    row = ours.iloc[0]
    return text + (f" This run's rule, {name}, ranks {ours.index[0] + 1} of {len(ranked)}: "
                   f"{row['cost per part']:.4f} a part ({row['defects shipped']:.2%} shipped, "
                   f"{row['good parts scrapped']:.1%} scrapped).")


def interval_words(summary: dict, mistake: str) -> str:
    """', 95% interval a to b' for the rule's shipped or scrapped share, where the summary has it."""
    interval = summary.get(f"interval {mistake} at rule")
    return f", 95% interval {interval[0]:.1%} to {interval[1]:.1%}" if interval else ""


def photograph_sentence(summary: dict) -> str:
    """The rule's mistakes counted once per photograph (a near-twin group), where the summary has them."""
    if "good photographs" not in summary:
        return ""
    return (" The data set holds many views of some photographs, so counted once per photograph (wrong on "
            f"most of its views), {summary['defective photographs shipped at rule']} of "
            f"{summary['defective photographs']:,} defective photographs would ship and "
            f"{summary['good photographs scrapped at rule']} of {summary['good photographs']:,} good ones be "
            "scrapped at the rule.")


def draws_sentences(summary: dict) -> str:
    """How far the never-seen figures move from one cv draw of the recipe to the next (its 'draws')."""
    draws = pd.DataFrame(summary["draws"])
    seeds = ", ".join(str(seed) for seed in draws["seed"])
    if len(draws) < 2:
        other = int(draws["seed"].max()) + 1
        return (f"**One draw of this recipe so far** (seed {seeds}), so how far its figure moves with other "
                f"folds and other first weights is not measured here. `make cv SEED={other}` trains another "
                f"draw (the same recipe, the folds and first weights of seed {other}); this table then shows "
                "every draw beside the others.")

    def spread(column: str, digits: int) -> str:
        low, high, mean = draws[column].min(), draws[column].max(), draws[column].mean()
        return f"{low:.{digits}%} to {high:.{digits}%} (mean {mean:.{digits}%})"

    accuracy, sd = draws["accuracy at 0.5"], draws["fold sd at 0.5"] * 100
    above = draws.loc[draws["run"] == summary["run"], "seed"]
    which = f"; the run above is seed {above.iloc[0]}" if len(above) else ""
    return (f"**Over {len(draws)} draws of this recipe** (seeds {seeds}: other folds and other first weights "
            f"each time{which}), the network judged **{spread('accuracy at 0.5', 2)}** of the parts it had "
            f"never seen right at 0.5, {(accuracy >= 0.99).sum()} of {len(draws)} draws at 99% or more; the "
            f"folds' sd was {sd.min():.2f} to {sd.max():.2f} points. At the operating rule "
            f"{spread('defects shipped at rule', 2)} of the defects would ship and "
            f"{spread('good parts scrapped at rule', 1)} of the good parts be scrapped; counted once per "
            f"photograph, {spread('good photographs scrapped at rule', 1)} of the good ones. The figures "
            "above are one draw from this spread.")


def changes_over_draws_sentences(summary: dict) -> str:
    """What chapter 6's changes do to parts never seen over every draw of the recipe ('changes over
    draws': fold 1 of each cv run): how many keep the unchanged level, the weakest, how often it holds."""
    table = pd.DataFrame(summary.get("changes over draws", []))
    if table.empty or not (table["change"] == "none").any():
        return ("No draw of this recipe has scored chapter 6's changes yet: `make cv` scores them on "
                "fold 1's held-out photos with every run.")
    unchanged = table.loc[table["change"] == "none", "mean accuracy at 0.5"].iloc[0]
    changed = table[table["change"] != "none"]
    worst = changed.loc[changed["mean accuracy at 0.5"].idxmin()]
    draws = int(worst["draws"])
    near = int((unchanged - changed["mean accuracy at 0.5"] <= 0.01).sum())
    text = (f"**Over {plural(draws, 'draw')}**, fold 1's held-out photos, each judged by a network that "
            f"never saw it, are {unchanged:.2%} right at 0.5 as taken (the mean over the draws); under "
            f"{near} of the {len(changed)} changes they lose at most a point of that. The weakest is "
            f"**{worst['change']} ({worst['strength']:g})**: {worst['mean accuracy at 0.5']:.2%} on average "
            f"({worst['lowest']:.2%} to {worst['highest']:.2%}), at 95% or more in "
            f"{int(worst['draws at 95% or more'])} of {draws}.")
    if pd.notna(worst["shipped by the line, all draws"]):
        shipped = plural(int(worst["shipped by the line, all draws"]), "defect")
        text += (f" Under it the line's verdicts would ship {shipped} over all draws (at most "
                 f"{int(worst['most shipped by the line in a draw'])} in one).")
    return text


def backbone_sentences(table: pd.DataFrame | None, settings: dict | None, run: str = "") -> str:
    """Plain sentences on `make backbones`' study: which network is right most often on never-seen parts, by
    how much, at what inspection speed, and how many epochs each finished; or how to run it."""
    if table is None or settings is None:
        return ("**No backbone study yet.** `make backbones` trains our network and three standard Keras "
                "networks (MobileNetV3Small, EfficientNetB0, ResNet50) for the same wall time each on the "
                "grouped split, and measures each on the test parts none of them saw (about 45 minutes on "
                "two cores); this section then shows its table.")
    ranked = table.sort_values(["accuracy at 0.5", "images/s"], ascending=False)
    best, second = ranked.iloc[0], ranked.iloc[1] if len(ranked) > 1 else None
    fastest = table.loc[table["images/s"].idxmax()]
    epochs = ", ".join(f"{m} {plural(int(e), 'epoch')}" for m, e in zip(table["model"], table["epochs"]))
    text = (f"In study `{run}`, each of {plural(len(table), 'network')} had "
            f"{settings['budget_seconds']:.0f} s of training on this machine, the same {settings['split']} "
            f"split (seed {settings['seed']}) and input stage; it finished {epochs}. **On the "
            f"{int(best['test parts'])} test parts none had seen, {best['model']} is right most often: "
            f"{best['accuracy at 0.5']:.1%}** at 0.5 (95% interval "
            f"{best['interval low']:.1%} to {best['interval high']:.1%} over near-twin groups; "
            f"{plural(int(best['missed at 0.5']), 'defect')} shipped, "
            f"{plural(int(best['scrapped at 0.5']), 'good part')} scrapped), at "
            f"{int(best['images/s']):,} images/s.")
    if second is not None:
        overlap = second["interval high"] >= best["interval low"]
        text += (f" Next is {second['model']} at {second['accuracy at 0.5']:.1%}, "
                 f"{100 * (best['accuracy at 0.5'] - second['accuracy at 0.5']):.1f} points behind"
                 f"{' (the intervals overlap: one split cannot tell them apart)' if overlap else ''}.")
    if fastest["model"] != best["model"]:
        text += f" The fastest at inspection is {fastest['model']}, {int(fastest['images/s']):,} images/s."
    return text + (" The standard networks start untrained (`weights=None`): nothing can be downloaded on "
                   "the plant's machine, so the ImageNet weights the seed study fine-tuned are out of reach.")


def pairs_source_sentence(path: Path, source: str) -> str:
    """Where the near-twin pairs came from: the file shipped with the project, or a search on this machine."""
    if source == "shipped":
        return (f"The pairs came with the project (`lib/shipped/{path.name}`, made for exactly these files "
                "and this method version), so every machine finds the same groups.")
    return (f"The pairs were searched for on this machine (these are not the files the project ships "
            f"pairs for) and kept in `{path}` for later runs.")

