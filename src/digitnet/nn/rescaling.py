"""Rescaling: a fixed affine map of the input, for networks trained on pixels other than digitnet's.

digitnet's pixels are grey levels in [0, 1]. A network someone else trained may expect 0..255 bytes, or
``(x - 0.1307) / 0.3081`` as PyTorch's MNIST examples normalise them. Where the first weighted layer can
absorb the map exactly, ONNX import folds it into that layer's weights; where it cannot (a shift before a
zero-padded convolution: the padding is 0 in the network's own input, not the shift), the map stays a
layer of its own, the first of the network, so every command that runs the model applies it.
"""

from __future__ import annotations

import math

from digitnet.nn.layer import Layer, register_layer

__all__ = ["Rescaling"]


@register_layer
class Rescaling(Layer):
    """y = scale·x + offset, elementwise; nothing to learn.

    ::

        dL/dx = scale · dL/dy

    Parameters
    ----------
    scale : float
        The factor, finite and not 0 (the map must keep the pixels apart).
    offset : float
        Added after scaling, finite.

    Shape
    -----
    x: (N, *) -> y: same shape.
    """

    def __init__(self, scale: float = 1.0, offset: float = 0.0):
        super().__init__()
        for name, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"Rescaling's {name} must be a finite number, got {value!r}")
        if scale == 0:
            raise ValueError("Rescaling's scale must not be 0: every input would look the same")
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x, *, training=False, rng=None):
        y = x * x.dtype.type(self.scale)
        if self.offset:
            y += x.dtype.type(self.offset)
        return y

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        return grad_out * grad_out.dtype.type(self.scale)

    def config(self):
        return {"scale": self.scale, "offset": self.offset}
