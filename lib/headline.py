"""The management headline and the shop-floor traffic lights: plain sentences and small tables computed from
the tables the chapters write (no TensorFlow: the report runner and the summary read them)."""

from __future__ import annotations

from html import escape

import pandas as pd

from lib.words import plural


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


def cross_validation_sentence(cv: dict) -> str:
    """The never-seen figure of cross-validation, with its range over the recipe's draws (HTML-safe text)."""
    low, high = cv["interval at 0.5"]
    text = (f"Cross-validation, every one of {cv['parts']:,} photographs judged by a network that never saw "
            f"it or any near-twin of it: {cv['accuracy at 0.5']:.2%} right at a score of 0.5 (95% interval "
            f"{low:.1%} to {high:.1%}; make cv run {cv['run']}).")
    accuracy = [draw["accuracy at 0.5"] for draw in cv.get("draws", [])]
    if len(accuracy) > 1:
        mean = sum(accuracy) / len(accuracy)
        text += (f" Trained again on other folds from other first weights, {len(accuracy)} such runs gave "
                 f"{min(accuracy):.2%} to {max(accuracy):.2%} (mean {mean:.2%}): the figure moves that much "
                 "with the training run alone.")
    return escape(text)


GREEN = (1.0, 2)  # at most this many points of accuracy lost and extra defects shipped: the verdicts hold
AMBER = (5.0, 10)  # at most this many: check a sample by hand; beyond: red, do not trust the verdicts
LIGHT_MEANS = {"green": "verdicts hold", "amber": "check a sample by hand",
               "red": "do not trust the verdicts"}


def traffic_lights(changes: pd.DataFrame) -> pd.DataFrame:
    """Chapter 6's changes at the operating point, milder and stronger: accuracy, defects shipped (by the
    line's verdicts, review band included, where the table has them; else below the threshold), parts sent to
    review and a light (green, amber, red by GREEN and AMBER, against the unchanged photos)."""
    accuracy = next(c for c in changes.columns if c.startswith("accuracy at operating point"))
    by_line = "shipped by the line" in changes.columns
    missed = "shipped by the line" if by_line else accuracy.replace("accuracy", "FN", 1)
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
                    f"{label} review": int(r["sent to review"]) if by_line else None,
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
            light, review = r[f"{label} light"], r.get(f"{label} review")
            to_review = "" if pd.isna(review) else f", {int(review)} to review"  # None: an older table
            cells.append(f"<td>{escape(r[f'{label} strength'])}</td>")
            cells.append(f'<td style="background:{colours[light]}"><b>{LIGHT_MEANS[light]}</b><br>'
                         f"<small>{r[f'{label} accuracy']:.1%} right, {r[f'{label} shipped']} "
                         f"shipped{to_review}</small></td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="lights" style="border-collapse:collapse">{head}{"".join(body)}</table>')


def line_sentence(changes: pd.DataFrame, point: dict, parts: int) -> str:
    """What the line's verdicts (threshold and review band) would do to parts under the changes: the most
    defects shipped, good parts scrapped and parts sent to a person, and under which change, against the
    unchanged photos."""
    base = changes[changes["change"] == "none"].iloc[0]
    tried = changes[changes["change"] != "none"]
    if tried.empty:
        return ""
    worst = tried.loc[tried["shipped by the line"].idxmax()]
    busiest = tried.loc[tried["sent to review"].idxmax()]

    def named(r: pd.Series) -> str:
        return f"{r['change']} {r['strength']:g}"

    shipped = ("ships no defective part under any change tried" if worst["shipped by the line"] == 0 else
               f"ships at most {plural(int(worst['shipped by the line']), 'defective part')}, under "
               f"{named(worst)}")
    most_scrapped = int(tried["scrapped by the line"].max())
    scraps = f"at most {plural(most_scrapped, 'good part')}" if most_scrapped else "no good part"
    return (f"With its review band (scores from {point['review_low']} to {point['review_high']} go to a "
            f"person), the line {shipped} ({int(base['shipped by the line'])} unchanged), and scraps "
            f"{scraps} ({int(base['scrapped by the line'])} unchanged). It sends at most "
            f"**{int(busiest['sent to review'])} of {parts} parts** to a person, under {named(busiest)} "
            f"({int(base['sent to review'])} unchanged): that is what a change costs the line when the "
            "network is unsure.")


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
    return (f"Green: at most {GREEN[0]:g} point of accuracy lost at the operating threshold and {GREEN[1]} "
            "more defects shipped (given the verdict ok, the review band included) than on the unchanged "
            "photos. "
            f"Amber: up to {AMBER[0]:g} points and {AMBER[1]} defects. Red: beyond that.")
