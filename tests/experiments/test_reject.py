"""``digitnet experiment reject`` in quick mode on real MNIST, and its threshold rule on toy numbers."""

import numpy as np
import pytest

from digitnet.experiments.reject import accuracy_coverage, choose_threshold


@pytest.fixture(scope="module")
def reject(quick_run):
    return quick_run("reject")


def test_writes_figures_results_and_summary(reject):
    out, _ = reject
    for name in ("accuracy_coverage", "confidence_threshold"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    assert "Threshold chosen on validation" in (out / "summary.txt").read_text()


def test_rejecting_raises_accuracy_on_kept_digits(reject):
    _, r = reject
    assert 0 < r["test_coverage"] <= 1
    assert r["test_accuracy_kept"] >= r["test_accuracy_all"]
    assert r["validation"]["accuracy"] >= r["target_accuracy"]
    assert 0 < r["threshold"] <= 1
    assert 0 <= r["noise_passing_share"] <= 1
    assert r["noise_passing"] + round(r["noise_rejected_share"] * r["noise_images"]) == r["noise_images"]


def test_accuracy_coverage_keeps_ties_together():
    conf = np.array([0.9, 0.8, 0.8, 0.6])
    correct = np.array([True, True, False, True])
    thresholds, coverage, accuracy = accuracy_coverage(conf, correct)
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.6])
    np.testing.assert_allclose(coverage, [0.25, 0.75, 1.0])
    np.testing.assert_allclose(accuracy, [1.0, 2 / 3, 0.75])


def test_choose_threshold_takes_the_largest_coverage_that_meets_the_target():
    conf = np.array([0.99, 0.95, 0.9, 0.7, 0.6])
    correct = np.array([True, True, True, False, True])
    assert choose_threshold(conf, correct, target=1.0) == 0.9
    assert choose_threshold(conf, correct, target=0.8) == 0.6  # 4/5 right when keeping all
    # no threshold reaches the target: the best kept accuracy, at the largest coverage among equals
    assert choose_threshold(np.array([0.9, 0.8]), np.array([False, True]), target=0.99) == 0.8
    with pytest.raises(ValueError, match="target"):
        choose_threshold(conf, correct, target=1.5)
