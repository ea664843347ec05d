"""Hand-worked values of the activations and costs, and their behaviour at the extremes."""

import numpy as np
import pytest

from digitnet.nn import CrossEntropy, Quadratic, ReLU, Sigmoid, Softmax, Tanh
from digitnet.nn.activations import sigmoid, softmax


def test_sigmoid_values_and_no_overflow():
    z = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0], dtype=np.float32)
    s = sigmoid(z)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1)), 1.0], atol=1e-7)
    assert s.dtype == np.float32


def test_softmax_is_stable_for_huge_logits():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0]])


def test_activation_layers_forward():
    x = np.array([[-2.0, 0.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(ReLU().forward(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(Softmax().forward(x).sum(), 1.0, rtol=1e-6)


def test_quadratic_cost_by_hand():
    """Output (0.8, 0.2) for label 0: target (1, 0), C = ½(0.2² + 0.2²) = 0.04."""
    out = np.array([[0.8, 0.2]])
    loss, grad = Quadratic().loss_and_gradient(out, np.array([0]))
    assert loss == pytest.approx(0.04)
    np.testing.assert_allclose(grad, [[-0.2, 0.2]])


def test_cross_entropy_by_hand():
    """Equal logits over 4 classes: p = 1/4 everywhere, C = log 4, dC/dz = p - y."""
    loss, grad = CrossEntropy().loss_and_gradient(np.zeros((1, 4)), np.array([2]))
    assert loss == pytest.approx(np.log(4))
    np.testing.assert_allclose(grad, [[0.25, 0.25, -0.75, 0.25]])


def test_costs_average_over_the_batch():
    out = np.random.default_rng(0).standard_normal((8, 10))
    labels = np.arange(8) % 10
    for cost in (Quadratic(), CrossEntropy()):
        whole = cost.loss(out, labels)
        halves = (cost.loss(out[:4], labels[:4]) + cost.loss(out[4:], labels[4:])) / 2
        assert whole == pytest.approx(halves)


def test_cross_entropy_with_extreme_logits_is_finite():
    out = np.array([[1e30, -1e30, 0.0]], dtype=np.float32)
    loss, grad = CrossEntropy().loss_and_gradient(out, np.array([1]))
    assert np.isfinite(loss) and loss > 1e29
    assert np.isfinite(grad).all()


def test_probabilities_sum_to_one():
    out = np.random.default_rng(0).uniform(-1, 1, (5, 10)).astype(np.float32)
    for cost in (Quadratic(), CrossEntropy()):
        p = cost.probabilities(out)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        assert (p >= 0).all()
    np.testing.assert_allclose(Quadratic().probabilities(-np.ones((1, 4))), 0.25)
