"""``digitnet experiment vanishing``, quick, on real MNIST: deep sigmoid gradients vanish, ReLU's don't."""

import pytest


@pytest.fixture(scope="module")
def vanishing(quick_run):
    return quick_run("vanishing")


def test_writes_figures_results_and_summary(vanishing):
    out, r = vanishing
    for name in ("gradient_norms", "mean_gradient_per_layer"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    assert "ReLU" in (out / "summary.txt").read_text()
    assert r["batches"] == 300
    for key in ("mean_bias_gradient_norm", "mean_weight_gradient_norm"):
        for activation in ("sigmoid", "relu"):
            assert len(r[key][activation]) == 6  # five hidden layers and the output layer
            assert all(v > 0 for v in r[key][activation])


def test_sigmoid_first_layer_learns_slower_than_its_last(vanishing):
    _, r = vanishing
    bias = r["mean_bias_gradient_norm"]["sigmoid"]
    assert bias[0] < bias[4]
    assert all(a < b for a, b in zip(bias[:4], bias[1:5]))  # the norm shrinks layer by layer downwards
    # observed: ~370x for the biases, ~100x for the weights; sigma' <= 1/4 per layer makes 10x a safe floor
    assert r["ratio_last_to_first_hidden_bias"]["sigmoid"] > 10
    assert r["ratio_last_to_first_hidden_weight"]["sigmoid"] > 10


def test_relu_layers_learn_at_about_the_same_speed(vanishing):
    _, r = vanishing
    # observed: ~0.6 for the biases; far closer to 1 than the sigmoid's hundreds
    assert 0.2 < r["ratio_last_to_first_hidden_bias"]["relu"] < 5
    assert r["val_accuracy_after_one_epoch"]["relu"] > r["val_accuracy_after_one_epoch"]["sigmoid"]
