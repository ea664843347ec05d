"""Finite-difference gradient checks: the proof that backpropagation computes the right derivatives.

For a parameter θ the central difference

    ∂L/∂θ ≈ (L(θ + ε) - L(θ - ε)) / 2ε

has error O(ε²). In float64 with ε = 1e-6 it agrees with a correct analytic gradient to about 1e-9
relative error; a wrong derivative shows up as an error near 1.
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.model import Sequential

__all__ = ["check_gradients", "numerical_gradient", "relative_error"]


GRADIENT_FLOOR = 1e-3
"""Gradients smaller than this (in norm) are compared absolutely, as if they had this norm."""


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """‖a - n‖ / max(‖a‖ + ‖n‖, 1e-3): scale-free for gradients of ordinary size.

    The floor matters for gradients that are truly zero, such as a bias followed by batch normalisation
    (subtracting the batch mean cancels it): there both sides are rounding noise, about 1e-10 for the
    central difference, and noise over noise would read as a relative error of 1. A wrong derivative of
    any size above 1e-9 still shows up above the 1e-6 tolerance.
    """
    denom = max(np.linalg.norm(analytic) + np.linalg.norm(numeric), GRADIENT_FLOOR)
    return float(np.linalg.norm(analytic - numeric) / denom)


def numerical_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``f()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place, one entry at a time, and restored.
    """
    grad = np.zeros_like(array, dtype=np.float64)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = f()
        flat[i] = saved - eps
        down = f()
        flat[i] = saved
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_gradients(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 0.0,
    training: bool = True,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Compare backpropagation with central differences for every parameter array and the input.

    Works on a float64 copy of ``model``; the model itself is untouched. With ``training=True`` dropout
    is active with the same mask in every evaluation (the generator is reseeded with ``seed``).

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (N, *input_shape)
    y : ndarray of int, shape (N,)
    l2 : float
        Include the weight penalty (λ/2) Σ‖W‖² in the checked loss.

    Returns
    -------
    dict
        Relative error per parameter array name (``"layers.0.W"``, ...) and ``"input"`` for dL/dx.
    """
    net = model.astype(np.float64)
    x = np.array(net.as_input(x), dtype=np.float64)
    y = np.asarray(y, dtype=np.intp)

    def loss() -> float:
        out = net.forward(x, training=training, rng=np.random.default_rng(seed))
        return net.cost.loss(out, y) + net.l2_penalty(l2)

    out = net.forward(x, training=training, rng=np.random.default_rng(seed))
    _, grad = net.cost.loss_and_gradient(out, y)
    grad_x = net.backward(grad)
    for p, g in net.decayed():
        g += l2 * p
    errors = {}
    params, grads, names = net.trainable()
    analytic = {name: g.copy() for name, g in zip(names, grads)}
    for name, p in zip(names, params):
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p, eps))
    errors["input"] = relative_error(grad_x, numerical_gradient(loss, x, eps))
    return errors
