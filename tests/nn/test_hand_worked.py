"""One step of backpropagation on a 2-2-2 sigmoid network, worked out by hand.

The numbers are chosen so that every weighted sum is 0, every sigmoid 1/2 and its slope 1/4: a person
checks each line with a pencil. float32 holds every result exactly; the comparisons still allow 1e-7,
so that no library's last bit decides them. The same network and numbers
are walked through in docs/reading-guide.md.

    x = (1, 0), label 0, so y = (1, 0)
    W¹ = [[0, 0], [1, 1]], b¹ = (0, 0)       z¹ = x W¹ + b¹ = (0, 0)      a¹ = σ(z¹) = (1/2, 1/2)
    W² = [[1, -1], [1, -1]], b² = (-1, 1)    z² = a¹ W² + b² = (0, 0)     a² = (1/2, 1/2)
    C = ½ ‖a² - y‖² = ½ (1/4 + 1/4) = 1/4

    BP1  δ² = (a² - y) ⊙ σ'(z²) = (-1/2, 1/2) ⊙ (1/4, 1/4) = (-1/8, 1/8)
    BP2  δ¹ = (δ² W²ᵀ) ⊙ σ'(z¹) = (-1/4, -1/4) ⊙ (1/4, 1/4) = (-1/16, -1/16)
    BP3  ∂C/∂b² = δ² = (-1/8, 1/8)                ∂C/∂b¹ = δ¹ = (-1/16, -1/16)
    BP4  ∂C/∂W² = a¹ᵀ δ² = [[-1/16, 1/16], [-1/16, 1/16]]
         ∂C/∂W¹ = xᵀ δ¹  = [[-1/16, -1/16], [0, 0]]

    SGD with η = 1: θ ← θ - ∂C/∂θ
"""

import numpy as np
import pytest

from digitnet.nn import SGD, Dense, Sequential, Sigmoid


def two_two_two() -> Sequential:
    net = Sequential([Dense(2), Sigmoid(), Dense(2), Sigmoid()], cost="quadratic", input_shape=(2,), rng=0)
    net.set_params(
        {
            "layers.0.W": np.array([[0, 0], [1, 1]], np.float32),
            "layers.0.b": np.array([0, 0], np.float32),
            "layers.2.W": np.array([[1, -1], [1, -1]], np.float32),
            "layers.2.b": np.array([-1, 1], np.float32),
        }
    )
    return net


X, LABELS = np.array([[1, 0]], np.float32), np.array([0])

GRADIENTS = {  # BP3 and BP4 above
    "layers.0.W": [[-1 / 16, -1 / 16], [0, 0]],
    "layers.0.b": [-1 / 16, -1 / 16],
    "layers.2.W": [[-1 / 16, 1 / 16], [-1 / 16, 1 / 16]],
    "layers.2.b": [-1 / 8, 1 / 8],
}


def test_forward_pass_matches_the_hand_worked_activations():
    z1, a1, z2, a2 = (output[0] for output in two_two_two().layer_outputs(X))
    np.testing.assert_array_equal(z1, [0, 0])
    np.testing.assert_allclose(a1, [0.5, 0.5], rtol=1e-7)
    np.testing.assert_allclose(z2, [0, 0], atol=1e-7)
    np.testing.assert_allclose(a2, [0.5, 0.5], rtol=1e-7)


def test_train_step_gives_the_hand_worked_cost_and_gradients():
    net = two_two_two()
    predicted = np.empty(1, np.intp)
    cost = net.train_step(X, LABELS, predicted=predicted)
    assert cost == pytest.approx(0.25, rel=1e-7)  # ½ (1/4 + 1/4)
    for name, (_, gradient) in net.parameters.arrays.items():
        np.testing.assert_allclose(gradient, GRADIENTS[name], rtol=1e-7, atol=1e-9, err_msg=name)


def test_one_sgd_step_moves_every_parameter_by_minus_its_gradient():
    net = two_two_two()
    before = {name: p.copy() for name, (p, _) in net.parameters.arrays.items()}
    net.train_step(X, LABELS)
    SGD(1.0).step([net.parameters.values], [net.parameters.grads])
    for name, (p, _) in net.parameters.arrays.items():
        expected = before[name] - np.array(GRADIENTS[name], np.float32)
        np.testing.assert_allclose(p, expected, rtol=1e-7, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(net.named_params()["layers.2.b"], [-7 / 8, 7 / 8], rtol=1e-7)
    assert net.evaluate(X, LABELS)["loss"] < 0.25  # the step went downhill


def test_fit_for_one_batch_is_train_step_then_the_update():
    net = two_two_two()
    net.fit(X, LABELS, optimizer=SGD(1.0), epochs=1, batch_size=1)
    np.testing.assert_allclose(net.named_params()["layers.0.W"], [[1 / 16, 1 / 16], [1, 1]], rtol=1e-7)
    np.testing.assert_allclose(net.named_params()["layers.0.b"], [1 / 16, 1 / 16], rtol=1e-7)
