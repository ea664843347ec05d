"""``digitnet experiment lr-sweep`` in quick mode on real MNIST: crawl, good range, overshoot, divergence."""

import pytest

NETWORKS = ("sigmoid", "relu", "least-squares")


@pytest.fixture(scope="module")
def sweep(quick_run):
    return quick_run("lr-sweep")


def test_writes_figures_results_and_summary(sweep):
    out, r = sweep
    for name in ("loss_curves", "final_accuracy"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    summary = (out / "summary.txt").read_text()
    assert "diverged at epoch 1 batch" in summary and "best η" in summary
    assert set(r["networks"]) == set(NETWORKS)
    assert r["etas"] == [0.001, 0.01, 0.1, 1.0, 10.0]


def test_least_squares_diverges_at_the_largest_rate(sweep):
    _, r = sweep
    runs = r["networks"]["least-squares"]["runs"]
    diverged = runs["10"]["diverged"]
    assert diverged is not None and diverged["epoch"] == 1 and diverged["batch"] >= 2  # observed: batch 18
    assert runs["10"]["batches_trained"] == diverged["batch"] - 1  # the curve stops where the loss went bad
    assert runs["10"]["final_val_accuracy"] is None
    for lr in ("0.001", "0.01", "0.1"):
        assert runs[lr]["diverged"] is None


def test_the_good_range_beats_both_ends(sweep):
    _, r = sweep
    for network in NETWORKS:
        runs = r["networks"][network]["runs"]
        best = r["networks"][network]["best_lr"]
        assert best in (0.1, 1.0)  # observed: 1 (sigmoid), 0.1 (ReLU, least squares)
        top = runs[f"{best:g}"]["final_val_accuracy"]
        assert top > 0.6  # observed: 74-82% after 200 batches
        assert runs["0.001"]["final_val_accuracy"] < top - 0.2  # crawl; observed: 16-23%
        big = runs["10"]
        assert (
            big["diverged"] is not None or big["final_val_accuracy"] < top - 0.2
        )  # overshoot; observed: ~11%


def test_too_large_a_rate_kills_relu_units(sweep):
    _, r = sweep
    big = r["networks"]["relu"]["runs"]["10"]
    assert big["diverged"] is not None or big["dead_units"] > 0.5  # observed: 100% dead
    assert r["networks"]["relu"]["runs"]["0.1"]["dead_units"] < 0.2  # observed: 0%
