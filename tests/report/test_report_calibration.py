"""Calibration maths on hand-made cases: ECE, reliability bins, temperature scaling, and the logits used."""

import numpy as np
import pytest

from digitnet.nn import Dense, Sequential, Sigmoid
from digitnet.report import (
    calibration_logits,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    softmax_t,
)
from digitnet.report.build import _validation_overlap


def confident(confidence: float, n: int, right: int, classes: int = 10):
    """n examples all predicting class 0 with probability ``confidence``; the first ``right`` are class 0."""
    p = np.full((n, classes), (1 - confidence) / (classes - 1))
    p[:, 0] = confidence
    labels = np.where(np.arange(n) < right, 0, 1)
    return p, labels


def test_perfectly_calibrated_has_zero_ece():
    p1, y1 = confident(0.8, 1000, 800)  # says 80%, right 80% of the time
    p2, y2 = confident(0.5, 200, 100)
    p, y = np.concatenate([p1, p2]), np.concatenate([y1, y2])
    assert expected_calibration_error(p, y) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_ece_is_the_weighted_gap():
    p, y = confident(0.99, 1000, 500)  # says 99%, right half the time
    assert expected_calibration_error(p, y) == pytest.approx(0.49)
    # two bins: 100 examples at 90% confidence but 60% right, 300 at 60% and 60% right
    pa, ya = confident(0.9, 100, 60)
    pb, yb = confident(0.6, 300, 180)
    ece = expected_calibration_error(np.concatenate([pa, pb]), np.concatenate([ya, yb]))
    assert ece == pytest.approx(100 / 400 * 0.3)


def test_reliability_bins_edges_and_counts():
    # confidence exactly b/B belongs to bin b-1 (bins are (b/B, (b+1)/B]); 1.0 to the last bin
    p = np.array([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5], [0.6, 0.4]])
    bins = reliability_bins(p, np.array([1, 0, 1, 0]), n_bins=5)
    assert [b["count"] for b in bins] == [0, 0, 2, 1, 1]  # 0.5 and 0.6 share (0.4, 0.6]; 0.8 in (0.6, 0.8]
    assert bins[2]["accuracy"] == 0.5 and bins[2]["confidence"] == pytest.approx(0.55)
    assert bins[3]["accuracy"] == 1.0 and bins[3]["confidence"] == pytest.approx(0.8)
    assert bins[4]["accuracy"] == 1.0 and bins[4]["confidence"] == 1.0
    assert bins[0]["accuracy"] is None and bins[0]["lower"] == 0 and bins[-1]["upper"] == 1
    assert len(reliability_bins(p, np.array([1, 0, 1, 0]))) == 15
    with pytest.raises(ValueError, match="probabilities"):
        reliability_bins(p, np.array([0, 1]))


def sample_labels(z: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One label per row, drawn from softmax(z / T) by inverting its cumulative distribution."""
    cdf = np.cumsum(softmax_t(z, temperature), axis=1)  # (N, C)
    u = rng.random((len(z), 1))
    return np.minimum((u > cdf).sum(axis=1), z.shape[1] - 1)


@pytest.mark.parametrize("true_t", [2.0, 0.5])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng([7, int(true_t * 10)])
    z = rng.normal(0.0, 3.0, size=(20_000, 10))  # (N, C) logits
    labels = sample_labels(z, true_t, rng)  # the labels really follow softmax(z / true_t)
    t = fit_temperature(z, labels)
    assert t == pytest.approx(true_t, rel=0.05)
    assert nll(z, labels, t) < nll(z, labels, 1.0)
    assert nll(z, labels, t) <= min(nll(z, labels, t * 1.01), nll(z, labels, t / 1.01))  # a minimum
    # scaling never changes the predicted class, so never the accuracy
    assert np.array_equal(softmax_t(z, t).argmax(1), z.argmax(1))


def test_temperature_scaling_lowers_ece_of_an_overconfident_model():
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 2.0, size=(20_000, 10))
    labels = sample_labels(z, 1.0, rng)
    sharp = 3.0 * z  # an over-confident model: logits three times too large
    t = fit_temperature(sharp, labels)
    assert t == pytest.approx(3.0, rel=0.05)
    before = expected_calibration_error(softmax_t(sharp), labels)
    after = expected_calibration_error(softmax_t(sharp, t), labels)
    assert before > 0.1 and after < 0.02


def test_fit_temperature_rejects_bad_input():
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros((3, 10)), np.zeros(4, int))
    with pytest.raises(ValueError, match="bracket"):
        fit_temperature(np.zeros((3, 10)), np.zeros(3, int), low=2.0, high=1.0)


def test_calibration_logits_reproduce_the_models_probabilities():
    rng = np.random.default_rng(0)
    x = rng.random((50, 784), dtype=np.float32)
    quadratic = Sequential([Dense(16), Sigmoid(), Dense(10), Sigmoid()], cost="quadratic", rng=1)
    z = calibration_logits(quadratic, x)
    np.testing.assert_allclose(softmax_t(z, 1.0), quadratic.predict_proba(x), atol=1e-6)
    cross_entropy = Sequential([Dense(10)], cost="cross-entropy", rng=2)
    np.testing.assert_allclose(calibration_logits(cross_entropy, x), cross_entropy.forward(x), rtol=1e-6)


@pytest.mark.parametrize(
    ("training", "overlap"),
    [
        ({}, 0),
        ({"validation_size": 10_000, "train_size": None}, 0),
        ({"validation_size": 0, "train_size": None}, 10_000),
        ({"validation_size": 5_000, "train_size": None}, 5_000),
        ({"validation_size": 0, "train_size": 5_000}, 0),
        ({"validation_size": 0, "train_size": 52_000}, 2_000),
    ],
)
def test_validation_overlap_counts_images_the_model_was_trained_on(training, overlap):
    assert _validation_overlap(training) == overlap
