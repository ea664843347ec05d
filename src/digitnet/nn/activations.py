"""Activation functions as parameter-free layers, each derivative right under its forward maths.

Shape: input (N, *), output the same shape. Every function is applied elementwise except softmax,
which normalises over the last axis (the C classes).
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.layer import Layer, register_layer

__all__ = ["ACTIVATIONS", "Identity", "ReLU", "Sigmoid", "Softmax", "Tanh", "sigmoid", "softmax"]


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(z) = 1 / (1 + e^-z), computed as ½ + ½·tanh(z/2).

    The tanh form is exactly equal and never overflows: e^-z overflows float32 for z < -88, tanh
    simply saturates at -1.
    """
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax(z)_c = e^(z_c - m) / Σ_k e^(z_k - m) with m = max_k z_k, over the last axis.

    Subtracting the maximum changes nothing mathematically and keeps every exponent <= 0, so e^x
    cannot overflow. Shape: (N, C) -> (N, C).
    """
    e = z - z.max(axis=-1, keepdims=True)  # (N, C), every entry <= 0
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)  # (N, 1) broadcast
    return e


@register_layer
class Identity(Layer):
    """a = z;  dL/dz = dL/da."""


@register_layer
class Sigmoid(Layer):
    """a = σ(z) = 1 / (1 + e^-z);  dL/dz = dL/da · a(1 - a).

    The classic neuron of the explainers: squashes any weighted sum into (0, 1). Its derivative is at
    most 1/4 and vanishes when |z| is large (saturation), which is why deep sigmoid networks learn slowly.
    """

    def forward(self, x, *, training=False, rng=None):
        self.a = sigmoid(x)
        return self.a

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        a = self.a
        return grad_out * a * (1.0 - a)


@register_layer
class Tanh(Layer):
    """a = tanh(z);  dL/dz = dL/da · (1 - a²). A sigmoid rescaled to (-1, 1) and centred on zero."""

    def forward(self, x, *, training=False, rng=None):
        self.a = np.tanh(x)
        return self.a

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        a = self.a
        return grad_out * (1.0 - a * a)


@register_layer
class ReLU(Layer):
    """a = max(0, z);  dL/dz = dL/da · [z > 0]. Its derivative never vanishes for active units."""

    def forward(self, x, *, training=False, rng=None):
        self.active = x > 0  # (N, *) bool, all backward needs
        return np.maximum(x, 0)

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        return grad_out * self.active


@register_layer
class Softmax(Layer):
    """a = softmax(z);  dL/dz = a ⊙ (dL/da - Σ_c a_c · dL/da_c).

    Only needed with the quadratic cost: the cross-entropy cost applies softmax itself, fused with the
    logarithm through log-sum-exp, which is both stabler and cheaper.
    """

    def forward(self, x, *, training=False, rng=None):
        self.a = softmax(x)
        return self.a

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        a = self.a
        dot = (grad_out * a).sum(axis=-1, keepdims=True)  # (N, 1)
        return a * (grad_out - dot)


ACTIVATIONS: dict[str, type[Layer]] = {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "softmax": Softmax,
}
"""Activation names, as the CLI and model files spell them, to their layer classes."""
