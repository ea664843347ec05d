"""Pooling layers: each output pixel summarises one K x K window of its channel, by its maximum or mean.

Pooling shrinks the image (2x2 windows at stride 2 halve it) and makes the features a little
insensitive to small shifts. It has no parameters. Shape letters as in :mod:`digitnet.nn.conv`.

Both layers see the windows through their K·K taps: tap (i, j) of every window at once is the strided
slice ``x[:, :, i::s, j::s]`` cut to (OH, OW), a view, never a copy. A pass per tap is then a whole-batch
NumPy operation, for non-overlapping windows (stride K, the default) and overlapping ones alike.

Sizes that do not divide: like PyTorch (``ceil_mode=False``), OH = (H - K) // s + 1, so rows and columns
past the last whole window are ignored, and their gradient is zero.
"""

from __future__ import annotations

import numpy as np

from digitnet import kernels
from digitnet.checks import checked_integer
from digitnet.nn.layer import Layer, register_layer

__all__ = ["AvgPool2D", "MaxPool2D"]


class _Pool2D(Layer):
    """What the two pooling layers share: arguments, shapes and the taps of the windows.

    Parameters
    ----------
    pool_size : int
        K: windows are K x K.
    stride : int or None
        s, the step between windows; None means K (non-overlapping windows).

    Shape
    -----
    x: (N, C, H, W) -> y: (N, C, OH, OW) with OH = (H - K) // s + 1, likewise OW.
    """

    def __init__(self, pool_size: int = 2, stride: int | None = None):
        super().__init__()
        name = type(self).__name__
        self.pool_size = checked_integer(f"{name} pool_size", pool_size)
        self.stride = None if stride is None else checked_integer(f"{name} stride", stride)

    @property
    def step(self) -> int:
        """s, the step between windows: ``stride``, or ``pool_size`` when that is None."""
        return self.pool_size if self.stride is None else self.stride

    def build(self, input_shape, rng):
        self.output_shape, _ = self.state_shapes(input_shape)
        self.input_shape = tuple(int(d) for d in input_shape)
        return self.output_shape

    def state_shapes(self, input_shape):
        """(C, H, W) -> (C, (H - K) // s + 1, (W - K) // s + 1); no parameters, no buffers."""
        name, k, s = type(self).__name__, self.pool_size, self.step
        if len(input_shape) != 3:
            raise ValueError(
                f"{name} expects images of shape (N, C, H, W), got per-example shape {tuple(input_shape)}"
            )
        c, h, w = (int(d) for d in input_shape)
        if k > h or k > w:
            raise ValueError(
                f"{name} window {k}x{k} is larger than its input {h}x{w}; "
                f"use a pool_size of at most {min(h, w)}"
            )
        return (c, (h - k) // s + 1, (w - k) // s + 1), {}

    def check_input(self, x: np.ndarray) -> None:
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"{type(self).__name__} built for (N, {self.input_shape}) inputs, got {x.shape}")

    def taps(self, x: np.ndarray):
        """Yield tap (i, j) of every window, in row-major order: views of shape (N, C, OH, OW)."""
        self.check_input(x)
        k, s = self.pool_size, self.step
        _, oh, ow = self.output_shape
        for i in range(k):
            for j in range(k):
                yield x[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s]  # (N, C, OH, OW)

    @property
    def overlapping(self) -> bool:
        """True when windows share positions (stride < K): their gradients must then be added up."""
        return self.step < self.pool_size

    def new_gradient(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dx, to be filled tap by tap: left uninitialised when the windows tile the input exactly
        (stride K, sizes divisible by K), so every position is written once; zeros otherwise."""
        (c, h, w), (_, oh, ow), k = self.input_shape, self.output_shape, self.pool_size
        shape = (len(grad_out), c, h, w)
        tiles = self.step == k and h == oh * k and w == ow * k
        return np.empty(shape, grad_out.dtype) if tiles else np.zeros(shape, grad_out.dtype)

    def config(self):
        return {"pool_size": self.pool_size, "stride": self.stride}


@register_layer
class MaxPool2D(_Pool2D):
    """y = the largest value of each window; its gradient goes to that one position.

    ::

        y[n, c, oh, ow] = max_{i,j} x[n, c, s·oh + i, s·ow + j]
        dL/dx[n, c, s·oh + i*, s·ow + j*] += dL/dy[n, c, oh, ow]   for the arg-max tap (i*, j*)

    Every other position gets no gradient from that window. With ties, the first maximum in row-major
    window order takes it all, as in PyTorch. Backward finds it again from the cached input and output:
    tap by tap, a window's gradient goes to the first tap equal to its maximum (an exact comparison, since
    y is one of the window's own values), which is cheaper than tracking the arg-max during forward.
    (The compiled kernels, :mod:`digitnet.kernels`, do keep the arg-max, one byte per window: in C,
    tracking it costs nothing.)

    ``pool_size`` K and ``stride`` s (None: K) as for every pooling layer (``_Pool2D``);
    x: (N, C, H, W) -> y: (N, C, OH, OW) with OH = (H - K) // s + 1, likewise OW.
    """

    argmax = None  # (N, C, OH, OW) uint8, the arg-max tap of each window, on the compiled kernels' path

    def forward(self, x, *, training=False, rng=None):
        fast = kernels.for_arrays(x)
        if fast is not None and self.pool_size**2 <= 256:  # a tap's index fits in one byte
            self.check_input(x)
            y, self.argmax = fast.maxpool_forward(x, self.pool_size, self.step, *self.output_shape[1:])
            return y
        self.argmax = None
        taps = list(self.taps(x))
        y = taps[0].copy() if len(taps) == 1 else np.maximum(taps[0], taps[1])  # (N, C, OH, OW)
        for tap in taps[2:]:
            np.maximum(y, tap, out=y)
        self.x, self.y = x, y  # layers never change their inputs in place, so references suffice
        return y

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        if self.argmax is not None:
            if grad_out.shape != self.argmax.shape:
                raise ValueError(
                    f"MaxPool2D's last forward gave outputs of shape {self.argmax.shape}, "
                    f"got a gradient of shape {grad_out.shape}"
                )
            return kernels.native().maxpool_backward(
                grad_out, self.argmax, self.input_shape, self.pool_size, self.step
            )
        dx = self.new_gradient(grad_out)
        taps, dtaps = list(self.taps(self.x)), list(self.taps(dx))
        unclaimed = np.ones(self.y.shape, bool)  # (N, C, OH, OW): windows whose max is still to be found
        for q, (tap, dtap) in enumerate(zip(taps, dtaps)):
            if q < len(taps) - 1:
                hit = tap == self.y  # (N, C, OH, OW)
                hit &= unclaimed
                unclaimed ^= hit  # hit is a subset of unclaimed: this removes it
            else:
                hit = unclaimed  # the last tap holds the max of every window still unclaimed
            if self.overlapping:
                dtap += grad_out * hit
            else:
                np.multiply(grad_out, hit, out=dtap)
        return dx


@register_layer
class AvgPool2D(_Pool2D):
    """y = the mean of each window; every position in it gets 1/K² of the gradient.

    ::

        y[n, c, oh, ow] = (1/K²) Σ_{i,j} x[n, c, s·oh + i, s·ow + j]
        dL/dx[n, c, s·oh + i, s·ow + j] += dL/dy[n, c, oh, ow] / K²   for every tap (i, j)

    ``pool_size`` K and ``stride`` s (None: K) as for every pooling layer (``_Pool2D``);
    x: (N, C, H, W) -> y: (N, C, OH, OW) with OH = (H - K) // s + 1, likewise OW.
    """

    def forward(self, x, *, training=False, rng=None):
        taps = self.taps(x)
        y = next(taps).copy()  # (N, C, OH, OW)
        for tap in taps:
            y += tap
        y *= 1.0 / self.pool_size**2
        return y

    def backward(self, grad_out, need_input_grad=True):
        if not need_input_grad:  # nothing below this layer learns
            return None
        share = grad_out * (1.0 / self.pool_size**2)  # (N, C, OH, OW)
        dx = self.new_gradient(share)
        for dtap in self.taps(dx):
            if self.overlapping:
                dtap += share
            else:
                dtap[...] = share
        return dx
