"""``digitnet experiment noise`` in quick mode on real MNIST: noise is called a digit, fooling works."""

import pytest


@pytest.fixture(scope="module")
def noise(quick_run):
    return quick_run("noise")


def test_writes_figures_results_and_summary(noise):
    out, _ = noise
    for name in ("confidence_histogram", "noise_classes", "fooling_images"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    summary = (out / "summary.txt").read_text()
    assert "noise" in summary and "Fooling" in summary


def test_noise_collapses_onto_few_classes(noise):
    _, r = noise
    assert r["noise_top3_share"] > 0.6  # 10 classes evenly would give 0.3; observed: ~1.0
    assert abs(sum(r["noise_class_shares"]) - 1) < 1e-9
    assert 0.1 <= r["noise_mean_confidence"] <= 1
    assert 0 <= r["noise_share_confident"] <= 1


def test_fooling_reaches_99_percent_for_most_classes(noise):
    _, r = noise
    fooling = r["fooling"]
    assert fooling["reached"] >= 8
    assert sum(c >= 0.99 for c in fooling["confidence"]) >= 8
    # the change stays small next to the noise itself (norm ~16), so it still looks like noise
    assert max(fooling["l2_change"]) < 0.75 * fooling["noise_l2_norm"]
