"""Dropout: randomly silence units while training so no unit can rely on any other."""

from __future__ import annotations

import numpy as np

from digitnet import kernels
from digitnet.nn.layer import Layer, register_layer

__all__ = ["Dropout"]


@register_layer
class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014).

    While training, each unit is kept with probability 1 - p and the kept ones are scaled by
    1 / (1 - p), so the expected activation is unchanged and inference needs no rescaling::

        m ~ Bernoulli(1 - p) / (1 - p)   (N, *) drawn fresh for every batch
        y = x ⊙ m,   dL/dx = dL/dy ⊙ m

    At inference (``training=False``) it is the identity.

    Parameters
    ----------
    rate : float
        p, the probability of dropping a unit, in [0, 1).

    Shape
    -----
    x: (N, *) -> y: same shape.
    """

    def __init__(self, rate: float):
        super().__init__()
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.mask = None

    def forward(self, x, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        if rng is None:
            raise ValueError("Dropout needs a numpy.random.Generator (rng=...) while training")
        keep = 1.0 - self.rate
        fast = kernels.for_arrays(x)
        if fast is not None:  # the same mask from the same draws, in one pass (kernels' dropout_forward)
            uniform = rng.random(x.shape, dtype=np.float32)
            self.mask, y = fast.dropout_forward(uniform, x, np.float32(keep), x.dtype.type(1.0 / keep))
            return y
        mask = rng.random(x.shape, dtype=np.float32) < keep  # (N, *) bool
        self.mask = mask.astype(x.dtype)
        self.mask *= x.dtype.type(1.0 / keep)
        return x * self.mask

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        return grad_out if self.mask is None else grad_out * self.mask

    def config(self):
        return {"rate": self.rate}
