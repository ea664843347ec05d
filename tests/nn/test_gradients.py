"""Backpropagation against float64 central differences, for every layer, activation and cost."""

import numpy as np
import pytest

from digitnet.nn import (
    ACTIVATIONS,
    COSTS,
    CrossEntropy,
    Dense,
    Dropout,
    Quadratic,
    Sequential,
    Sigmoid,
    Softmax,
)
from digitnet.nn.gradcheck import check_gradients, numerical_gradient, relative_error

TOLERANCE = 1e-6


def small_net(activation, cost, dropout=0.0, seed=0):
    act = ACTIVATIONS[activation]
    layers = [Dense(7), act(), Dropout(dropout), Dense(5), act(), Dense(4)]
    if cost == "quadratic":
        layers.append(Softmax() if activation == "identity" else act())
    return Sequential(layers, cost=cost, input_shape=(6,), rng=seed)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("cost", sorted(COSTS))
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_every_parameter_and_input_gradient_matches_finite_differences(activation, cost, l2):
    rng = np.random.default_rng(1)
    net = small_net(activation, cost)
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 4, 5)
    errors = check_gradients(net, x, y, l2=l2)
    assert set(errors) == {*net.named_params(), "input"}
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("training", [True, False])
def test_dropout_gradient_in_train_and_inference_mode(training):
    rng = np.random.default_rng(2)
    net = small_net("tanh", "cross-entropy", dropout=0.4)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
    errors = check_gradients(net, x, y, training=training)
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("cost_cls", [Quadratic, CrossEntropy])
def test_cost_gradient_matches_finite_differences(cost_cls):
    rng = np.random.default_rng(3)
    out, labels = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    cost = cost_cls()
    loss, grad = cost.loss_and_gradient(out.copy(), labels)
    assert loss == pytest.approx(cost.loss(out, labels))
    numeric = numerical_gradient(lambda: cost.loss(out, labels), out)
    assert relative_error(grad, numeric) <= TOLERANCE


def test_a_wrong_derivative_is_caught(monkeypatch):
    """The check must be able to fail: break the sigmoid's derivative and watch the error jump."""
    monkeypatch.setattr(Sigmoid, "backward", lambda self, g, need_input_grad=True: g * self.a)  # no (1 - a)
    net = small_net("sigmoid", "cross-entropy")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 4, 5)
    errors = check_gradients(net, x, y)
    assert errors["layers.0.W"] > 1e-2


def test_check_leaves_the_model_untouched():
    net = small_net("relu", "cross-entropy")
    before = {k: v.copy() for k, v in net.named_params().items()}
    check_gradients(net, np.ones((2, 6)), np.array([0, 1]))
    for k, v in net.named_params().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("cost_cls", [Quadratic, CrossEntropy])
def test_weighted_cost_gradient_and_value(cost_cls):
    rng = np.random.default_rng(5)
    out, labels = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    weights = rng.uniform(0.1, 3.0, 6)
    cost = cost_cls()
    loss, grad = cost.loss_and_gradient(out.copy(), labels, weights)
    per_example = [cost.loss(out[i : i + 1], labels[i : i + 1]) for i in range(6)]
    assert loss == pytest.approx(np.dot(weights, per_example) / weights.sum())
    numeric = numerical_gradient(lambda: cost.loss(out, labels, weights), out)
    assert relative_error(grad, numeric) <= TOLERANCE
    assert cost.loss(out, labels, np.ones(6)) == pytest.approx(cost.loss(out, labels))


def test_input_gradient_is_each_examples_own_cost_gradient():
    rng = np.random.default_rng(6)
    net = small_net("tanh", "cross-entropy").astype(np.float64)
    x, y = rng.standard_normal((4, 6)), rng.integers(0, 4, 4)
    costs, grads = net.input_gradient(x, y)
    for i in range(4):
        xi = x[i : i + 1].copy()
        assert costs[i] == pytest.approx(net.cost.loss(net.forward(xi), y[i : i + 1]))
        numeric = numerical_gradient(lambda xi=xi, i=i: net.cost.loss(net.forward(xi), y[i : i + 1]), xi)
        assert relative_error(grads[i : i + 1], numeric) <= TOLERANCE


def test_relative_error_treats_rounding_noise_around_zero_as_agreement_but_not_small_mistakes():
    noise = np.random.default_rng(0).standard_normal(8) * 1e-10  # central differences of a zero gradient
    assert relative_error(np.zeros(8), noise) <= TOLERANCE
    small = np.full(8, 1e-7)
    assert relative_error(small, 2 * small) > TOLERANCE  # a factor of 2 on a tiny gradient is still caught
    assert relative_error(np.ones(8), np.ones(8) * (1 + 1e-3)) > TOLERANCE
