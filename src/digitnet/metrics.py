"""Scores of a classifier: accuracy, the confusion matrix, per-class precision and recall."""

from __future__ import annotations

import numpy as np

__all__ = ["classification_report", "confusion_matrix"]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Counts M[t, p] of examples of true class t predicted as p. Shape: (N,), (N,) -> (C, C) int64."""
    y_true, y_pred = np.asarray(y_true, np.intp), np.asarray(y_pred, np.intp)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)  # (C, C)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> dict:
    """Accuracy, and for each class: precision M[c,c]/Σ_t M[t,c], recall M[c,c]/Σ_p M[c,p], support.

    A class never predicted has precision 0 (no correct predictions of it), as does one never present.
    """
    m = confusion_matrix(y_true, y_pred, n_classes)
    hits = np.diag(m)
    predicted, actual = m.sum(axis=0), m.sum(axis=1)  # (C,), (C,)
    precision = np.divide(hits, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros(n_classes), where=actual > 0)
    return {
        "accuracy": float(hits.sum() / max(m.sum(), 1)),
        "errors": int(m.sum() - hits.sum()),
        "per_class": [
            {
                "class": c,
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "support": int(actual[c]),
            }
            for c in range(n_classes)
        ],
        "confusion_matrix": m.tolist(),
    }
