"""Finite-difference gradient checks: the proof that backpropagation computes the right derivatives.

For a parameter θ the central difference

    ∂L/∂θ ≈ (L(θ + ε) - L(θ - ε)) / 2ε

has a truncation error O(ε²) (about 1e-12 here) and a rounding error: each loss is computed to within a
few units of float64 rounding u = 2^-52 of |L|, and the difference is divided by 2ε, so every entry
carries noise of about u·|L|/ε, 2e-10 for |L| ≈ 1 and ε = 1e-6. A larger ε shrinks that noise but steps
over the kinks of ReLU and max-pooling more often; 1e-6 keeps the kinks rare.

The comparison is the relative error of the whole array (see :func:`relative_error`), with a floor under
its denominator set by that noise (see :func:`resolution`): an array's gradient is compared as if its
norm were at least the size that finite differences can resolve to 1e-7. So rounding alone reads as at
most about 1e-7, on any CPU and BLAS, while a wrong derivative reads as its error over the larger of the
gradient's norm and that floor: about 0.5 for a plainly wrong one, and still above the 1e-6 tolerance for
one wrong by 0.1% (tests/nn/test_gradcheck_seeds.py breaks derivatives by that much and requires failure).
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.model import Sequential

__all__ = ["check_gradients", "numerical_gradient", "relative_error", "resolution"]


GRADIENT_FLOOR = 1e-3
"""Gradients smaller than this (in norm) are compared absolutely, as if they had this norm."""

RESOLVED_TO = 1e-7
"""Rounding noise may contribute at most this much to a reported error: ten times under the 1e-6 that
the checks accept, so no CPU's or BLAS's rounding can fail them."""


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = GRADIENT_FLOOR) -> float:
    """‖a - n‖ / max(‖a‖ + ‖n‖, floor): scale-free for gradients of ordinary size.

    The floor matters for gradients that are truly zero, such as a bias followed by batch normalisation
    (subtracting the batch mean cancels it), or very small, such as the input gradient of a network of
    saturated sigmoids: there the central difference is mostly rounding noise, and noise over noise
    would read as a relative error near 1. :func:`check_gradients` raises the floor to the
    :func:`resolution` of each array's finite differences; a wrong derivative of any size above that
    still shows up far above the 1e-6 tolerance.
    """
    denom = max(np.linalg.norm(analytic) + np.linalg.norm(numeric), floor)
    return float(np.linalg.norm(analytic - numeric) / denom)


def resolution(loss: float, size: int, eps: float = 1e-6) -> float:
    """The smallest gradient norm that central differences resolve to :data:`RESOLVED_TO`.

    Each entry of the numerical gradient carries rounding noise of about u·|L|/ε (u = 2^-52), so the
    noise of an array of ``size`` entries has norm about √size · u · |L| / ε; dividing by
    ``RESOLVED_TO`` gives the norm at which that noise is a 1e-7 relative error. For the 320-entry input
    of a small CNN with |L| ≈ 1.4 and ε = 1e-6 that is 0.05, against a measured noise of 1e-9.
    """
    noise = np.sqrt(size) * np.finfo(np.float64).eps * max(abs(loss), 1.0) / eps
    return float(noise / RESOLVED_TO)


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
        Relative error per parameter array name (``"layers.0.W"``, ...) and ``"input"`` for dL/dx,
        each with its denominator floored at the array's :func:`resolution`.
    """
    net = model.astype(np.float64)
    x = np.array(net.as_input(x), dtype=np.float64)
    y = np.asarray(y, dtype=np.intp)

    def loss() -> float:
        out = net.forward(x, training=training, rng=np.random.default_rng(seed))
        return net.cost.loss(out, y) + net.parameters.l2_penalty(l2)

    out = net.forward(x, training=training, rng=np.random.default_rng(seed))
    _, grad = net.cost.loss_and_gradient(out, y)
    grad_x = net.backward(grad)
    parameters = net.parameters
    parameters.weight_grads += l2 * parameters.weights  # d/dW of (λ/2)‖W‖², as the training loop adds it
    errors = {}
    analytic = {name: g.copy() for name, (_, g) in parameters.arrays.items()}
    at = loss()  # |L| sets the rounding noise of every difference

    def compare(a, array):
        floor = max(GRADIENT_FLOOR, resolution(at, array.size, eps))
        return relative_error(a, numerical_gradient(loss, array, eps), floor)

    for name, (p, _) in parameters.arrays.items():
        errors[name] = compare(analytic[name], p)
    errors["input"] = compare(grad_x, x)
    return errors
