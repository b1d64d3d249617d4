"""Scores to decisions: metrics at a threshold, threshold sweeps, operating points."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix


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
