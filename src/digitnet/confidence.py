"""Honest confidence: calibrated probabilities, and "not sure" when the network should not answer.

Every front end (``digitnet predict``, the API, the drawing page) answers through :func:`verdicts`:

1. **Calibrated probabilities.** A model file may record a ``temperature`` T (``metrics.temperature``);
   the probabilities are then ``softmax(z / T)`` of the model's scores z
   (:func:`digitnet.calibration.calibration_logits`), which keeps the answer and makes "90% sure"
   mean right about 90% of the time on the data T was fitted to. Without one, T = 1: the model's own.
2. **A reject option.** The answer is *sure* when its probability is at least ``min_confidence``;
   otherwise the front ends say "not sure" and name the two likeliest digits ("0 or 8?"). The threshold
   is the caller's, else the model's recorded ``metrics.min_confidence``, else
   :data:`FALLBACK_MIN_CONFIDENCE`.

:func:`calibrate` chooses both on labelled data that is not MNIST (for the bundled models, digits drawn
with the page's pen, :mod:`digitnet.imaging.sketches`): T by the least negative log-likelihood, and the
threshold as the confidence below which :data:`SET_ASIDE` (3%) of the right answers fall, so that a
known, small share of right answers is given up to catch the confident-looking wrong ones.

Shapes: N examples, C = 10 classes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from digitnet.calibration import calibration_logits, fit_temperature, scores, softmax_t

__all__ = [
    "FALLBACK_MIN_CONFIDENCE",
    "SET_ASIDE",
    "calibrate",
    "calibrated_probabilities",
    "checked_min_confidence",
    "probabilities_at",
    "recorded_min_confidence",
    "verdicts",
]

FALLBACK_MIN_CONFIDENCE = 0.6
"""The threshold for a model that records none (not calibrated): the drawing page's line since it began."""

SET_ASIDE = 0.03
"""Share of right answers that the chosen threshold sets aside on the calibration data."""


def checked_min_confidence(value: Any, name: str = "min_confidence") -> float:
    """``value`` as a threshold in [0, 1]; ``ValueError`` naming ``name`` otherwise (NaN, bool, text...)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1 (0: always answer), got {value!r}")
    return float(value)


def recorded_min_confidence(metrics: dict[str, Any]) -> float:
    """The threshold a model file records, else :data:`FALLBACK_MIN_CONFIDENCE`."""
    return float(metrics.get("min_confidence", FALLBACK_MIN_CONFIDENCE))


def calibrated_probabilities(model, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(z / T)``, the model's probabilities at temperature T (T = 1: exactly ``predict_proba``'s).

    Shape: x (N, 784) or (N, 1, 28, 28) -> (N, C) float64.
    """
    if temperature == 1.0:
        return model.predict_proba(x).astype(np.float64)
    return softmax_t(calibration_logits(model, x), temperature)


def probabilities_at(model, outputs: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The probabilities at temperature T from outputs the model already computed (no second forward pass):
    ``softmax(z / T)`` of its logits, or for a quadratic-cost model of ``log p`` (see
    :func:`~digitnet.calibration.calibration_logits`). Shape: (N, C) -> (N, C)."""
    if temperature == 1.0:
        return model.cost.probabilities(outputs)
    return softmax_t(scores(model, outputs), temperature)


def verdicts(probabilities: np.ndarray, min_confidence: float) -> list[dict[str, Any]]:
    """Each row's answer: the digit, its probability, whether that clears the threshold, the runner-up.

    Returns one dict per row: ``digit``, ``confidence``, ``sure`` (``confidence >= min_confidence``),
    ``runner_up`` (the second likeliest digit) and ``runner_up_confidence``.

    Shape: probabilities (N, C) -> N dicts.
    """
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :2]  # (N, 2): best, runner-up
    out = []
    for row, (best, second) in zip(probabilities, order, strict=True):
        out.append(
            {
                "digit": int(best),
                "confidence": float(row[best]),
                "sure": bool(row[best] >= min_confidence),
                "runner_up": int(second),
                "runner_up_confidence": float(row[second]),
            }
        )
    return out


def calibrate(model, x: np.ndarray, labels: np.ndarray, set_aside: float = SET_ASIDE) -> dict[str, float]:
    """Fit a temperature and choose a reject threshold on labelled data (never MNIST's test split).

    T minimises the mean negative log-likelihood of ``softmax(z / T)``
    (:func:`~digitnet.calibration.fit_temperature`), but is never below 1: data a model reads
    almost perfectly (drawings a program made, for a model trained on their styles) fits T < 1, which
    would make its answers surer than the network itself is on the harder drawings people make; an
    answer is softened where the network is over-confident, never sharpened. The threshold is the
    ``set_aside`` quantile of
    the calibrated confidence over the examples the model gets right: below it fall that share of the
    right answers, and, on the same data, most of the wrong ones.

    Returns
    -------
    dict
        ``temperature``, ``min_confidence``, and what they give on this data: ``calibration_examples``,
        ``calibration_accuracy``, ``wrong_caught`` (share of wrong answers set aside; 1 when none is wrong),
        ``right_set_aside``.

    Shape: x (N, 784), labels (N,).
    """
    labels = np.asarray(labels)
    z = calibration_logits(model, x)  # (N, C) float64
    temperature = max(1.0, fit_temperature(z, labels))  # soften, never sharpen: see below
    p = softmax_t(z, temperature)  # (N, C)
    confidence, right = p.max(axis=1), p.argmax(axis=1) == labels  # (N,) each
    threshold = float(np.quantile(confidence[right], set_aside)) if right.any() else 1.0
    wrong = ~right
    return {
        "temperature": float(temperature),
        "min_confidence": round(threshold, 4),
        "calibration_examples": len(labels),
        "calibration_accuracy": float(right.mean()),
        "wrong_caught": float((confidence[wrong] < threshold).mean()) if wrong.any() else 1.0,
        "right_set_aside": float((confidence[right] < threshold).mean()) if right.any() else 0.0,
    }
