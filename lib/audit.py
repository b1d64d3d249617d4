"""Labels to check: the parts whose filed class looks doubtful, for a person who knows the parts.

Three kinds of evidence, each read from what the project already wrote: a near-twin group (one photograph,
turned or relit) filed under both classes; a part that every seed of the last `make repeat` got wrong; a
part that a network which never saw it (`make cv`'s out-of-fold scores) called the other class with
confidence. None of them proves a label wrong; each is worth a look.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lib.cv_results import fold_scores, matching_cv_run
from lib.evaluate import REPEAT_PREDICTIONS, REPEAT_SETTINGS
from lib.runs import data_fingerprint
from lib.words import plural

LABEL_AUDIT = "label_audit.csv"
SURE = 0.95  # a network this sure of the other class is worth a look
NAMED = ("cast_def_0_150", "cast_def_0_1591")  # named by public projects on this data as likely mislabelled
COLUMNS = ["path", "split", "class_name", "kind", "reason", "evidence", "twin_group"]


def mixed_groups(table: pd.DataFrame) -> pd.DataFrame:
    """The photos filed as their near-twin group's smaller class, in groups that hold both labels."""
    rows = []
    for _, members in table[table["label_conflict"]].groupby("twin_group"):
        counts = members["class_name"].value_counts()
        if counts.iloc[0] == counts.iloc[-1]:  # a tie: every photo of the group is in question
            minority = members
        else:
            minority = members[members["class_name"] == counts.index[-1]]
        for _, m in minority.iterrows():
            rows.append({**m[["path", "split", "class_name", "twin_group"]].to_dict(),
                         "kind": "mixed group", "reason": "near-twin group holds both labels",
                         "evidence": f"{counts.get(m['class_name'], 0)} of {len(members)} photos of its "
                                     "group "
                                     f"are filed as {m['class_name']}, the others as the other class"})
    return pd.DataFrame(rows, columns=COLUMNS)


def last_repeat(outputs: Path, data_root: Path) -> Path | None:
    """The newest `make repeat` run with per-part scores, on the same data (or None)."""
    sha = data_fingerprint(data_root)["sha256"]
    runs = sorted((p.parent for p in Path(outputs).glob(f"*-repeat/{REPEAT_PREDICTIONS}")), reverse=True)
    for run in runs:
        settings = run / REPEAT_SETTINGS
        if settings.is_file() and json.loads(settings.read_text()).get("data_sha256") == sha:
            return run
    return None


def always_wrong(predictions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The validation and test parts that every seed got wrong at 0.5 (repeat_predictions.csv rows), with
    their near-twin group from the split table."""
    seeds = predictions["seed"].nunique()
    wrong = predictions.assign(wrong=(predictions["score"] >= 0.5) != (predictions["label"] == 1))
    per_part = wrong.groupby(["path", "split", "class_name"], as_index=False).agg(
        wrong=("wrong", "sum"), seeds=("seed", "nunique"), mean_score=("score", "mean"))
    found = per_part[(per_part["wrong"] == per_part["seeds"]) & (per_part["seeds"] == seeds)].merge(
        table[["path", "twin_group"]], on="path", how="left")
    return found.assign(kind="every seed wrong", reason=f"every one of {seeds} seeds got it wrong",
                        evidence=[f"mean defect score {s:.3f} over {seeds} seeds"
                                  for s in found["mean_score"]])[COLUMNS]


def sure_and_wrong(oof: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The parts a network that never saw them called the other class with at least SURE confidence."""
    defect = oof["label"] == 1
    found = oof[(defect & (oof["score"] <= 1 - SURE)) | (~defect & (oof["score"] >= SURE))]
    found = found.drop(columns=["split", "twin_group"], errors="ignore").merge(
        table[["path", "split", "class_name", "twin_group"]], on="path", how="left")
    return found.assign(kind="sure, never seen",
                        reason="a network that never saw it was sure of the other class",
                        evidence=[f"out-of-fold defect score {s:.3f}" for s in found["score"]])[COLUMNS]


def label_audit(table: pd.DataFrame, model_run: Path, data_root: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every doubtful label with its reason and evidence (one row per part and reason), and what each
    source of evidence gave (or that it was not there to read), in words."""
    outputs = Path(model_run).parent
    groups = mixed_groups(table)
    parts = [groups]
    mixed = table.loc[table["label_conflict"], "twin_group"].nunique()
    said = [f"near-twin groups holding both labels: {mixed} ({plural(len(groups), 'photo')} of their smaller "
            "class listed)"]
    repeat = last_repeat(outputs, data_root)
    if repeat is None:
        said.append("no `make repeat` run with per-part scores on this data yet")
    else:
        scored = pd.read_csv(repeat / REPEAT_PREDICTIONS)
        parts.append(always_wrong(scored, table))
        said.append(f"`make repeat` run {repeat.name} ({plural(scored['seed'].nunique(), 'seed')}, "
                    f"{scored['path'].nunique():,} validation and test parts): "
                    f"{plural(len(parts[-1]), 'part')} every seed got wrong")
    cv = matching_cv_run(model_run, data_root)
    if cv is None:
        said.append("no `make cv` run of this recipe on this data yet")
    else:
        parts.append(sure_and_wrong(fold_scores(cv).query("split == 'test'"), table))
        said.append(f"`make cv` run {cv.name}: {plural(len(parts[-1]), 'photo')} its never-seen networks "
                    f"were at least {SURE:.0%} sure belong to the other class")
    audit = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
    return audit.sort_values(["reason", "path"]).reset_index(drop=True), said


def named_parts(audit: pd.DataFrame, table: pd.DataFrame, scored: pd.DataFrame | None = None) -> str:
    """A sentence on each file public projects call mislabelled: in the audit or not, and how it scored."""
    said = []
    for name in NAMED:
        rows = table[table["path"].map(lambda p: Path(p).stem) == name]
        if not len(rows):
            said.append(f"`{name}` is not in this data set")
            continue
        row = rows.iloc[0]
        reasons = audit.loc[audit["path"] == row["path"], "reason"].tolist()
        score = "" if scored is None or row["path"] not in set(scored["path"]) else (
            f", scored {float(scored.set_index('path').loc[row['path'], 'score']):.3f} for defect")
        said.append(f"`{name}` (filed {row['class_name']}, {row['split']}{score}) is "
                    + (f"in the audit: {'; '.join(reasons)}" if reasons else "not in the audit"))
    return "Public projects on this data call two files likely mislabelled: " + "; ".join(said) + "."


def audit_sentence(audit: pd.DataFrame, sources: list[str]) -> str:
    """How many labels look doubtful, and what each source of evidence gave."""
    counts = audit.drop_duplicates("path")["class_name"].value_counts()
    filed = ", ".join(f"{n} filed {c}" for c, n in counts.items())
    found = (f"**{plural(audit['path'].nunique(), 'photo')} with a doubtful label** ({filed}), saved as "
             f"`{LABEL_AUDIT}`." if len(audit) else "**No label looks doubtful** by the evidence read.")
    return found + " Evidence read: " + "; ".join(sources) + "."
