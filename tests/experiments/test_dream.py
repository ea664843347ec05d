"""``digitnet experiment dream`` in quick mode on real MNIST: every class's dream is (nearly) certain."""

import numpy as np
import pytest

from digitnet.experiments._shared_input import dream
from digitnet.nn import Dense, ReLU, Sequential


@pytest.fixture(scope="module")
def dreams(quick_run):
    return quick_run("dream")


def test_writes_figures_results_and_summary(dreams):
    out, _ = dreams
    for name in ("dreams", "class_means", "dream_objective"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    assert "gradient ascent" in (out / "summary.txt").read_text()


def test_each_dream_is_its_class_with_high_probability(dreams):
    _, r = dreams
    assert len(r["dream_probability"]) == 10
    assert min(r["dream_probability"]) > 0.9
    assert all(0 < n <= 28 for n in r["dream_l2_norm"])  # pixels in [0, 1]: ‖x‖ <= √784 = 28
    assert all(abs(g) < 0.5 for g in r["dream_objective_gain_last_100_steps"])  # converged
    assert min(r["class_mean_probability"]) > 0.5


def test_dream_raises_the_logit_and_stays_in_range():
    model = Sequential([Dense(8), ReLU(), Dense(10)], cost="cross-entropy", rng=0)
    result = dream(model, np.arange(10), start=0.5, penalty=0.05, rate=0.05, steps=50)
    assert result.images.shape == (10, 784)
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert np.all(result.history[-1] > result.history[0])
