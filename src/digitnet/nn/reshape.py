"""Flatten: images to flat vectors, the bridge from convolutional layers to dense ones."""

from __future__ import annotations

import math

from digitnet.nn.layer import Layer, register_layer

__all__ = ["Flatten"]


@register_layer
class Flatten(Layer):
    """y = x with each example's axes laid out in one row (C-order: channel, then row, then column).

    Nothing is computed, so the gradient is reshaped back the same way::

        y[n, (c·H + h)·W + w] = x[n, c, h, w],   dL/dx = dL/dy reshaped to (N, C, H, W)

    Shape
    -----
    x: (N, C, H, W) -> y: (N, C·H·W); any (N, *) -> (N, product of *).
    """

    def build(self, input_shape, rng):
        self.output_shape, _ = self.state_shapes(input_shape)  # checks input_shape
        self.input_shape = tuple(int(d) for d in input_shape)
        return self.output_shape

    def state_shapes(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError("Flatten needs per-example inputs with at least one axis, got shape ()")
        return (math.prod(int(d) for d in input_shape),), {}

    def forward(self, x, *, training=False, rng=None):
        # (N, C, H, W) -> (N, C·H·W): a view of x when x is contiguous, a copy otherwise
        return x.reshape(len(x), *self.output_shape)

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        return grad_out.reshape(len(grad_out), *self.input_shape)  # (N, C·H·W) -> (N, C, H, W)
