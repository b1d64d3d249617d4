"""The report's sentences: plain words for plant management and for analysts, computed from the figures."""

from __future__ import annotations

from html import escape
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
    """One sentence on the best epoch and why training ended."""
    reason = (f"stopped early: validation loss had not improved for {patience} epochs"
              if summary["stopped_early"] else f"ran all {epochs} epochs")
    return (f"Best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(validation loss {summary['best_val_loss']:.4f}, accuracy "
            f"{summary['best_val_accuracy']:.2%}); training {reason}, in "
            f"{summary['train_seconds']:.0f} s of wall time.")


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
        f"ship** ({summary['missed at rule'] / summary['defects']:.1%}) and **"
        f"{plural(summary['scrapped at rule'], 'good part')} of {summary['good']:,} would be scrapped** "
        f"({summary['scrapped at rule'] / summary['good']:.1%}). With scores from {summary['review_low']} to "
        f"{summary['review_high']} sent to a person, {plural(summary['review'], 'part')} would go to review, "
        f"{plural(summary['shipped with review band'], 'defective part')} would still ship and "
        f"{plural(summary['scrapped with review band'], 'good part')} would be scrapped."
    )


def pairs_source_sentence(path: Path, source: str) -> str:
    """Where the near-twin pairs came from: the file shipped with the project, or a search on this machine."""
    if source == "shipped":
        return (f"The pairs came with the project (`lib/shipped/{path.name}`, made for exactly these files "
                "and this method version), so every machine finds the same groups.")
    return (f"The pairs were searched for on this machine (these are not the files the project ships "
            f"pairs for) and kept in `{path}` for later runs.")


def never_seen_headline(test: pd.DataFrame, point: dict) -> dict:
    """On the test parts with no near-twin in training (all of a grouped test): parts, defects, good parts,
    and how many the verdicts would ship, scrap and send to a person."""
    unseen = test[~test["twin_seen"].to_numpy(bool)]
    defect, said = unseen["label"].to_numpy(int) == 1, unseen["verdict"].to_numpy()
    return {"parts": len(unseen), "defects": int(defect.sum()), "good": int((~defect).sum()),
            "shipped": int(((said == "ok") & defect).sum()),
            "scrapped": int(((said == "defect") & ~defect).sum()),
            "review": int((said == "review").sum()), "threshold": point["threshold"],
            "review_low": point["review_low"], "review_high": point["review_high"]}


def headline_sentences(h: dict) -> str:
    """The management headline in plain sentences (HTML-safe text, numbers computed)."""
    if not h["parts"]:
        return ("Every test part of this run repeats a training photograph, so there is no honest figure on "
                "new parts here: run the report with params/grouped.yaml, or `make cv`.")
    return (f"On {plural(h['parts'], 'test part')} the network had never seen "
            f"({plural(h['defects'], 'defective part')}, {plural(h['good'], 'good part')}), it would have "
            f"shipped {plural(h['shipped'], 'defective part')}, scrapped "
            f"{plural(h['scrapped'], 'good part')} and sent {plural(h['review'], 'part')} to a person "
            f"for a look (scores from {h['review_low']} to {h['review_high']}).")


GREEN = (1.0, 2)  # at most this many points of accuracy lost and extra defects shipped: the verdicts hold
AMBER = (5.0, 10)  # at most this many: check a sample by hand; beyond: red, do not trust the verdicts
LIGHT_MEANS = {"green": "verdicts hold", "amber": "check a sample by hand",
               "red": "do not trust the verdicts"}


def traffic_lights(changes: pd.DataFrame) -> pd.DataFrame:
    """Chapter 6's changes at the operating point, milder and stronger: accuracy, defects shipped and a light
    (green, amber, red by GREEN and AMBER, against the unchanged photos)."""
    accuracy = next(c for c in changes.columns if c.startswith("accuracy at operating point"))
    missed = accuracy.replace("accuracy", "FN", 1)
    base = changes[changes["change"] == "none"].iloc[0]
    rows = []
    for name, tried in changes[changes["change"] != "none"].groupby("change", sort=False):
        row: dict = {"change": name}
        for label, (_, r) in zip(("milder", "stronger"), tried.iterrows()):
            lost, shipped = 100 * (base[accuracy] - r[accuracy]), int(r[missed] - base[missed])
            light = ("green" if lost <= GREEN[0] and shipped <= GREEN[1] else
                     "amber" if lost <= AMBER[0] and shipped <= AMBER[1] else "red")
            row |= {f"{label} strength": f"{r['strength']:g} ({r['strength means']})",
                    f"{label} accuracy": float(r[accuracy]), f"{label} shipped": int(r[missed]),
                    f"{label} light": light}
        rows.append(row)
    return pd.DataFrame(rows)


def traffic_light_html(lights: pd.DataFrame) -> str:
    """The traffic-light table as a small self-contained HTML table (colours inline)."""
    colours = {"green": "#c8e6c9", "amber": "#ffe0a3", "red": "#f4b4b4"}
    head = ("<tr><th>shop-floor change</th><th>milder</th><th>verdicts</th><th>stronger</th>"
            "<th>verdicts</th></tr>")
    body = []
    for _, r in lights.iterrows():
        cells = [f"<td>{escape(r['change'])}</td>"]
        for label in ("milder", "stronger"):
            light = r[f"{label} light"]
            cells.append(f"<td>{escape(r[f'{label} strength'])}</td>")
            cells.append(f'<td style="background:{colours[light]}"><b>{LIGHT_MEANS[light]}</b><br>'
                         f"<small>{r[f'{label} accuracy']:.1%} right, {r[f'{label} shipped']} "
                         "shipped</small></td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="lights" style="border-collapse:collapse">{head}{"".join(body)}</table>')


def drift_sentence(warned: pd.DataFrame, lights: pd.DataFrame) -> str:
    """Whether the line's drift warning fires where the verdicts break, and is quiet on unchanged photos."""
    none = warned[warned["change"] == "none"].iloc[0]
    changed = warned[warned["change"] != "none"].assign(
        label=lambda d: d.groupby("change", sort=False).cumcount().map({0: "milder", 1: "stronger"}))
    fired = {(r["change"], r["label"]) for _, r in changed[changed["line warned"]].iterrows()}
    broken = [(r["change"], label) for _, r in lights.iterrows() for label in ("milder", "stronger")
              if r[f"{label} light"] != "green"]
    silent = [f"{name} ({label})" for name, label in broken if (name, label) not in fired]
    quiet = ("and the line is not warned" if not none["line warned"]
             else "and the line is warned: a false alarm")
    verdicts = ("The verdicts hold under every change tried." if not broken else
                f"Of the {plural(len(broken), 'change')} under which the verdicts do not hold "
                "(amber or red), "
                + (f"it stays quiet on {plural(len(silent), 'change')}: {', '.join(silent)}." if silent
                   else "it fires on every one."))
    return (f"On the unchanged test photos, **{plural(int(none['photos drifted']), 'photo')} of "
            f"{int(none['photos'])} drifted**, {quiet}. The warning fires under {len(fired)} of "
            f"{len(changed)} changes tried. {verdicts}")


def lights_rule() -> str:
    """How the traffic lights are set, from GREEN and AMBER."""
    return (f"Green: at most {GREEN[0]:g} point of accuracy lost and {GREEN[1]} more defects shipped than on "
            f"the unchanged photos, at the operating point. Amber: up to {AMBER[0]:g} points and {AMBER[1]} "
            "defects. "
            "Red: beyond that.")
