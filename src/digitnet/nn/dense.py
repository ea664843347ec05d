"""The fully connected layer: every output unit is a weighted sum of every input, plus a bias."""

from __future__ import annotations

import numpy as np

from digitnet.checks import checked_integer
from digitnet.nn.initializers import INITIALIZERS, initialize
from digitnet.nn.layer import Layer, register_layer

__all__ = ["Dense"]


@register_layer
class Dense(Layer):
    """z = x W + b.

    Backward, with g = dL/dz of shape (N, U)::

        dL/dW = xᵀ g        (D, U)   each weight's gradient, summed over the batch
        dL/db = Σ_n g_n     (U,)
        dL/dx = g Wᵀ        (N, D)   passed on to the layer below

    Parameters
    ----------
    units : int
        U, the number of output neurons.
    init : str or None
        A name from ``INITIALIZERS``. None lets the model choose by the activation that follows
        (He for ReLU, LeCun for sigmoid, Glorot otherwise); the choice is recorded in the model file.

    Shape
    -----
    x: (N, D) -> z: (N, U); parameters W: (D, U), b: (U,).
    """

    has_weights = True

    decayed = ("W",)

    def __init__(self, units: int, init: str | None = None):
        super().__init__()
        if init is not None and init not in INITIALIZERS:
            raise ValueError(f"unknown initialiser {init!r}; choose one of {sorted(INITIALIZERS)}")
        self.units = checked_integer("Dense units", units)
        self.init = init

    def build(self, input_shape, rng):
        self.output_shape, _ = self.state_shapes(input_shape)  # checks input_shape
        self.input_shape = tuple(input_shape)
        init = self.init or "glorot"
        self.init = init
        w, b = initialize(init, rng, input_shape[0], self.units)
        self.params = {"W": w, "b": b}
        self.grads = {"W": np.zeros_like(w), "b": np.zeros_like(b)}
        return self.output_shape

    def state_shapes(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense expects flat inputs of shape (N, D), got per-example shape {input_shape}"
            )
        return (self.units,), {"W": (int(input_shape[0]), self.units), "b": (self.units,)}

    def forward(self, x, *, training=False, rng=None):
        self.x = x  # (N, D), kept for dL/dW
        z = x @ self.params["W"]  # (N, U)
        z += self.params["b"]  # broadcast over N
        return z

    def backward(self, grad_out, need_input_grad=True):
        np.matmul(self.x.T, grad_out, out=self.grads["W"])  # (D, N) @ (N, U) -> (D, U)
        np.add.reduce(grad_out, axis=0, out=self.grads["b"])  # (N, U) -> (U,)
        if not need_input_grad:
            return None
        return grad_out @ self.params["W"].T  # (N, U) @ (U, D) -> (N, D)

    def config(self):
        return {"units": self.units, "init": self.init}
