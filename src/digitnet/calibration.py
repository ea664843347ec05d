"""Calibration: does "87% sure" mean right 87% of the time? Reliability bins, ECE and temperature scaling.

Shapes use the package's letters: N examples, C classes, B confidence bins.

A classifier's *confidence* on an example is its largest probability, ``max_c p_c``; it is *calibrated*
when, among the examples where it says 80%, 80% are right. Binning the confidences gives the
reliability diagram and the expected calibration error (Guo et al. 2017, "On calibration of modern
neural networks").

Temperature scaling divides the logits by one number T > 0 before the softmax, ``softmax(z / T)``:
T > 1 softens over-confident probabilities, T < 1 sharpens timid ones. It never changes which class is
largest, so the accuracy stays the same. T is fitted on the validation split, never on test.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "N_BINS",
    "calibration_logits",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
    "reliability_bins",
    "scores",
    "softmax_t",
]

N_BINS = 15  # Guo et al.'s choice: fine enough to see the curve, coarse enough to fill the top bins
LOG_EPS = 1e-12  # floor on quadratic-cost probabilities before the log, so log 0 never occurs


def calibration_logits(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The scores z whose softmax gives the model's probabilities, to scale by a temperature.

    * Cross-entropy models: the last layer's output, the logits the cost applies softmax to.
    * Quadratic-cost models (usually sigmoid outputs a): they have no logits, and their probabilities
      are the outputs clipped at 0 and normalised, p = a / Σ_c a_c. We use z = log max(p, 1e-12).
      Then softmax(z / T)_c = p_c^(1/T) / Σ_k p_k^(1/T): T = 1 gives back exactly the probabilities the
      model reports, and T acts as a power that sharpens or flattens them. (The sigmoid's own input
      would not do: its softmax is not the model's reported probability.)

    Shape: x (N, 784) -> z (N, C), float64.
    """
    x = model.as_input(x)
    parts = [scores(model, model.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, model.n_classes))


def scores(model, outputs: np.ndarray) -> np.ndarray:
    """The scores z of :func:`calibration_logits` from outputs the model already computed: the logits of
    a cross-entropy model, ``log max(p, 1e-12)`` of a quadratic-cost one. Shape: (N, C) -> (N, C) float64."""
    if model.cost_name == "cross-entropy":
        return outputs.astype(np.float64)
    p = model.cost.probabilities(outputs).astype(np.float64)  # (N, C), rows sum to 1
    return np.log(np.maximum(p, LOG_EPS))


def softmax_t(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) over the last axis, with the row maximum subtracted. Shape: (N, C) -> (N, C)."""
    s = np.asarray(z, dtype=np.float64) / temperature
    s -= s.max(axis=-1, keepdims=True)  # (N, C), every entry <= 0
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)  # (N, 1) broadcast
    return s


def nll(z: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of softmax(z / T): 1/N Σ_n (logsumexp(z_n / T) - z_{n,y_n} / T).

    Shape: z (N, C), labels (N,) -> scalar.
    """
    s = np.asarray(z, dtype=np.float64) / temperature  # (N, C)
    m = s.max(axis=-1, keepdims=True)  # (N, 1)
    lse = m[:, 0] + np.log(np.exp(s - m).sum(axis=-1))  # (N,)
    return float(np.mean(lse - s[np.arange(len(s)), np.asarray(labels, np.intp)]))


def fit_temperature(
    z: np.ndarray, labels: np.ndarray, *, low: float = 0.05, high: float = 20.0, tol: float = 1e-6
) -> float:
    """The temperature T in [low, high] minimising the validation NLL of softmax(z / T).

    With β = 1/T the NLL is  L(β) = 1/N Σ_n (logsumexp(β z_n) - β z_{n,y_n}),  a log-sum-exp of linear
    functions of β minus a linear one, hence convex in β (L'' = mean variance of z under softmax(βz)
    >= 0). A convex function of β is unimodal in u = log T = -log β, so golden-section search on u
    finds the minimum without derivatives: each step keeps the 0.618 of the bracket that must hold it,
    until the bracket is narrower than ``tol`` in log T (a relative precision of ``tol`` on T).

    Parameters
    ----------
    z : ndarray
        Logits (see :func:`calibration_logits`), shape (N, C).
    labels : ndarray
        Integer class ids, shape (N,).
    low, high : float
        The search bracket for T; the answer is clipped to it (a network that needs T outside
        [0.05, 20] is broken in a way a temperature cannot fix).

    Returns
    -------
    float
        The fitted T > 0.
    """
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.intp)
    if z.ndim != 2 or len(z) != len(labels) or len(z) == 0:
        raise ValueError(
            f"fit_temperature needs logits (N, C) and labels (N,), got {z.shape} and {labels.shape}"
        )
    if not 0 < low < high:
        raise ValueError(f"the temperature bracket must satisfy 0 < low < high, got [{low}, {high}]")
    golden = (math.sqrt(5) - 1) / 2  # 0.618..., the ratio that lets each step reuse one evaluation
    a, b = math.log(low), math.log(high)
    c, d = b - golden * (b - a), a + golden * (b - a)
    fc, fd = nll(z, labels, math.exp(c)), nll(z, labels, math.exp(d))
    while b - a > tol:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - golden * (b - a)
            fc = nll(z, labels, math.exp(c))
        else:  # the minimum lies in [c, b]
            a, c, fc = c, d, fd
            d = a + golden * (b - a)
            fd = nll(z, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> list[dict]:
    """Examples grouped by confidence into ``n_bins`` equal-width bins of (0, 1].

    Bin b (from 0) holds the examples with confidence in (b/B, (b+1)/B]; for each bin: its edges, the
    number of examples, their accuracy (share predicted right) and mean confidence (both None when
    empty).

    Shape: probabilities (N, C), labels (N,) -> a list of B dicts.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.intp)
    if p.ndim != 2 or len(p) != len(labels):
        raise ValueError(f"need probabilities (N, C) and labels (N,), got {p.shape} and {labels.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    confidence = p.max(axis=1)  # (N,)
    correct = p.argmax(axis=1) == labels  # (N,)
    edges = np.arange(n_bins + 1) / n_bins  # (B+1,), exactly the floats b/B
    # the first edge >= conf is the bin's upper edge, so conf in (b/B, (b+1)/B] lands in bin b;
    # clip keeps conf = 0 in the first bin
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)  # (N,)
    counts = np.bincount(which, minlength=n_bins)  # (B,)
    hits = np.bincount(which, weights=correct, minlength=n_bins)  # (B,)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)  # (B,)
    bins = []
    for b in range(n_bins):
        n = int(counts[b])
        bins.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": n,
                "accuracy": float(hits[b] / n) if n else None,
                "confidence": float(conf_sum[b] / n) if n else None,
            }
        )
    return bins


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE = Σ_b (|B_b| / N) · |acc(B_b) - conf(B_b)|, over ``n_bins`` equal-width confidence bins.

    B_b is the set of examples whose confidence max_c p_c falls in (b/B, (b+1)/B], acc(B_b) the share
    of them whose top class is the true one, conf(B_b) their mean confidence. It is the average gap
    between what the model says and how often it is right, weighted by how many examples say it:
    0 for a perfectly calibrated model, at most 1.

    Shape: probabilities (N, C), labels (N,) -> scalar in [0, 1].

    Examples
    --------
    Always 99% sure and right half the time: ECE = |0.5 - 0.99| = 0.49.

    >>> p = np.array([[0.99, 0.01], [0.99, 0.01]])
    >>> round(expected_calibration_error(p, np.array([0, 1])), 6)
    0.49
    """
    bins = reliability_bins(probabilities, labels, n_bins)
    total = sum(b["count"] for b in bins)
    if total == 0:
        raise ValueError("expected_calibration_error needs at least one example")
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))
