"""Risk against coverage: what a "not sure" threshold gives up and what it catches.

Answer only the examples whose confidence (top probability) is at least t: the *coverage* is the share
answered, the *risk* the share of those answers that are wrong. Lowering t from 1 to 0 traces the curve
from answering nothing to answering everything (Geifman & El-Yaniv, 2017, "Selective classification for
deep neural networks"); a good reject option keeps the risk low down to a high coverage.

Shapes: N examples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["risk_coverage", "selective_record"]


def risk_coverage(confidence: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and risk when answering the k most confident examples, for k = 1..N.

    coverage_k = k / N,  risk_k = (1/k) Σ_{i<=k} wrong_i  with examples sorted by falling confidence.

    Shape: confidence (N,), right (N,) bool -> coverage (N,), risk (N,).
    """
    order = np.argsort(-np.asarray(confidence), kind="stable")
    wrong = ~np.asarray(right, bool)[order]  # (N,)
    kept = np.arange(1, len(order) + 1)  # (N,)
    return kept / len(order), np.cumsum(wrong) / kept


def selective_record(probabilities: np.ndarray, labels: np.ndarray, threshold: float | None) -> dict:
    """The curve and, at ``threshold``, the coverage, the risk, the share of errors caught and of right
    answers set aside; for ``report.json``. Shape: probabilities (N, C), labels (N,)."""
    confidence = probabilities.max(axis=1)  # (N,)
    right = probabilities.argmax(axis=1) == labels  # (N,)
    coverage, risk = risk_coverage(confidence, right)
    shown = np.unique(np.r_[np.arange(0, len(coverage), max(1, len(coverage) // 200)), len(coverage) - 1])
    record = {  # about 200 points of the curve are plenty to draw, the last (everything answered) among them
        "examples": len(labels),
        "accuracy": float(right.mean()),
        "curve": {"coverage": coverage[shown].tolist(), "risk": risk[shown].tolist()},
    }
    if threshold is not None:
        answered = confidence >= threshold
        record.update(
            threshold=threshold,
            coverage=float(answered.mean()),
            risk=float((~right[answered]).mean()) if answered.any() else 0.0,
            errors_caught=float((~answered[~right]).mean()) if (~right).any() else 1.0,
            right_set_aside=float((~answered[right]).mean()) if right.any() else 0.0,
        )
    return record
