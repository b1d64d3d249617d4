"""The report's sentences: plain words for plant management and for analysts, computed from the figures."""

from __future__ import annotations

import pandas as pd

from lib.decision import review_band
from lib.splits import evaluation_subsets


def management_summary(test: pd.DataFrame, point: dict) -> str:
    """Plain sentences for plant management: shipped defects, scrapped parts, reviews, and why."""
    n, defects = len(test), int((test["true_class"] == "defect").sum())
    band = review_band(test["label"], test["score"], point["threshold"], point["review_low"],
                       point["review_high"])
    wrong = (test["verdict_at_threshold"] != test["true_class"]).to_numpy()
    _, clean, unseen = evaluation_subsets(test).values()
    return (
        f"**Of {n} test parts** ({defects} defective, {n - defects} good), the network would have "
        f"**shipped {band['missed defects outside band']} defective part(s)**, **scrapped "
        f"{band['scrapped good parts outside band']} good part(s)**, and "
        f"**sent {band['review']} to a person for review** "
        f"(scores between {point['review_low']} and {point['review_high']}).\n\n"
        f"A part is called defective when its score is at least **{point['threshold']:.4f}**: "
        f"{point['why']}. This was fixed on the validation split before the test parts were "
        f"scored.\n\n"
        f"Without the review band, deciding every part at that threshold, it would have made "
        f"{int(wrong.sum())} mistake(s) in {n} parts ({wrong.mean():.2%}).\n\n"
        f"Caution: {n - int(clean.sum())} of these test files are byte-identical copies of training "
        f"files. On the {int(clean.sum())} others it made {int(wrong[clean].sum())} mistake(s) at that "
        f"threshold. Moreover, {n - int(unseen.sum())} test parts are the same photograph as a training "
        f"part, turned, mirrored or zoomed (chapter 1). On the {int(unseen.sum())} parts the network had "
        f"truly never seen, it made {int(wrong[unseen].sum())} mistake(s) at that threshold."
    )


def why_stopped(summary: dict, patience: int, epochs: int) -> str:
    """One sentence on the best epoch and why training ended."""
    reason = (f"stopped early: validation loss had not improved for {patience} epochs"
              if summary["stopped_early"] else f"ran all {epochs} epochs")
    return (f"Best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(validation loss {summary['best_val_loss']:.4f}, accuracy "
            f"{summary['best_val_accuracy']:.2%}); training {reason}, in "
            f"{summary['train_seconds']:.0f} s of wall time.")
