"""Honest confidence: temperature-scaled probabilities, verdicts with a runner-up, and calibration."""

import numpy as np
import pytest

from digitnet.confidence import (
    FALLBACK_MIN_CONFIDENCE,
    calibrate,
    calibrated_probabilities,
    checked_min_confidence,
    probabilities_at,
    recorded_min_confidence,
    verdicts,
)
from digitnet.training.config import TrainConfig
from digitnet.training.runs import build_model


@pytest.fixture(params=["cross-entropy", "quadratic"])
def model(request):
    cost = request.param
    config = TrainConfig(hidden=(12,), cost=cost, activation="relu" if cost == "cross-entropy" else "sigmoid")
    return build_model(config)  # weights drawn from the config's seed


def test_one_forward_pass_or_two_give_the_same_probabilities(model):
    x = np.random.default_rng(1).random((20, 784), dtype=np.float32)
    outputs = model.forward(model.as_input(x))
    for temperature in (1.0, 0.5, 2.5):
        expected = calibrated_probabilities(model, x, temperature)
        np.testing.assert_allclose(probabilities_at(model, outputs, temperature), expected, atol=1e-6)
        np.testing.assert_allclose(expected.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(calibrated_probabilities(model, x, 1.0), model.predict_proba(x), atol=1e-7)
    sharp, soft = calibrated_probabilities(model, x, 0.5), calibrated_probabilities(model, x, 2.5)
    assert (sharp.max(axis=1) >= soft.max(axis=1)).all()  # T flattens, and never changes the answer
    assert (sharp.argmax(axis=1) == soft.argmax(axis=1)).all()


def test_a_verdict_is_sure_at_the_threshold_and_names_the_runner_up():
    p = np.array([[0.1, 0.6, 0.3, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0.45, 0.1, 0.45]])
    first, second = verdicts(p, 0.6)
    assert first == {"digit": 1, "confidence": 0.6, "sure": True, "runner_up": 2, "runner_up_confidence": 0.3}
    assert second["digit"] == 7 and second["runner_up"] == 9 and not second["sure"]  # a tie: the first wins


def test_calibration_softens_never_sharpens_and_sets_aside_the_share_asked():
    rng = np.random.default_rng(2)
    model = build_model(TrainConfig(hidden=(16,)))
    x = rng.random((400, 784), dtype=np.float32)
    y = rng.integers(0, 10, 400)  # labels the untrained network gets mostly wrong: it is over-confident
    found = calibrate(model, x, y, set_aside=0.1)
    assert found["temperature"] >= 1.0 and found["calibration_examples"] == 400
    p = calibrated_probabilities(model, x, found["temperature"])
    right = p.argmax(axis=1) == y
    if right.sum() >= 10:
        assert (p.max(axis=1)[right] < found["min_confidence"]).mean() == pytest.approx(0.1, abs=0.05)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_a_threshold_outside_0_to_1_is_refused(bad):
    with pytest.raises(ValueError, match="min_confidence must be a number from 0 to 1"):
        checked_min_confidence(bad)
    assert checked_min_confidence(0) == 0.0 and checked_min_confidence(1) == 1.0


def test_a_model_without_a_threshold_uses_the_fallback():
    assert recorded_min_confidence({}) == FALLBACK_MIN_CONFIDENCE
    assert recorded_min_confidence({"min_confidence": 0.83}) == 0.83
