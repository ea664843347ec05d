"""The 2-D convolution layer: every filter slides over the image and takes a weighted sum of each patch.

Shape letters, for this module and the pooling, batch-norm and reshape layers:

====  ==============================================================
N     examples in a mini-batch
C     input channels (1 for a grey digit)
H, W  input height and width (28 for MNIST)
K     kernel (window) size: windows are K x K
F     filters, the output channels
OH    output height, OW output width
====  ==============================================================

Images are NCHW: ``x[n, c, h, w]``.

How it is computed: im2col, one BLAS product, col2im
----------------------------------------------------
Flatten each zero-padded channel to one row of Hp·Wp pixels (Hp, Wp: the padded size). Output pixel
(oh, ow) reads, for kernel tap (i, j), the pixel at flat position s·t + i·Wp + j with t = oh·Wp + ow
(s the stride). So the column matrix that im2col builds, one row per (c, i, j) and one column per t,
fills each tap's rows with ONE long slice of the flat image, and col2im adds them back the same way:
K·K NumPy operations over the whole batch, however large the image. The columns t with ow >= OW wrap
past the right edge and are garbage: they are computed and dropped, and their gradient is set to zero
so they add nothing. That costs about Wp/OW more arithmetic (1.16x for 28x28 inputs and K = 5, 1.44x for
LeNet's 12x12 second layer, about s times for stride s) but replaces OH short copies per tap with one
long one, which is what made the classic im2col slower here.

So L = (OH - 1)·Wp + OW columns per example, and the column matrix is laid out (C·K·K, N·L): every
example's columns side by side, so that the forward pass, dL/dW and dL/dX are each ONE BLAS product over
the whole batch. For 32 -> 64 filters of 5x5 on 14x14 maps at batch 64 that took the layer's backward
pass from 73 ms (one product per example) to 41 ms here.

With the compiled kernels (:mod:`digitnet.kernels`), the passes around the three products run in C:
im2col (padding each image as it goes, never the batch), the output's valid columns plus the bias, the
gradient into the product's layout, and col2im with its crop and transpose, one image at a time in the
cache. The products stay the BLAS's; their column matrix holds only the valid pixels, the X of the class
docstring's maths, so the garbage columns' extra arithmetic is gone.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from digitnet import kernels
from digitnet.checks import checked_integer, is_integer
from digitnet.nn.initializers import INITIALIZERS, initialize
from digitnet.nn.layer import Layer, register_layer

__all__ = ["Conv2D"]


@register_layer
class Conv2D(Layer):
    """z = W ⋆ x + b: F filters of size C x K x K, cross-correlated with the zero-padded input.

    With xp the input zero-padded by p pixels on every side and s the stride::

        z[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · xp[n, c, s·oh + i, s·ow + j]

    In matrix form, with X the (C·K·K, N·OH·OW) matrix of every example's patches side by side (im2col)
    and Wm = W reshaped to (F, C·K·K): Z = Wm X + b.

    Backward, with g = dL/dz of shape (N, F, OH, OW) and G = g as (F, N·OH·OW)::

        dL/db = Σ_{n,oh,ow} g[n, :, oh, ow]       (F,)
        dL/dW = G Xᵀ                              (F, C·K·K), reshaped to (F, C, K, K)
        dL/dX = Wmᵀ G                             (C·K·K, N·OH·OW), one row per kernel tap
        dL/dxp = col2im(dL/dX): each tap's row added back where im2col read it (overlaps sum)
        dL/dx = dL/dxp without the padding

    Parameters
    ----------
    filters : int
        F, the number of output channels.
    kernel_size : int
        K: square K x K windows.
    stride : int
        s, the step between windows, in both directions.
    padding : int or "same"
        p, zero pixels added on every side; "same" (stride 1 and odd K only) pads (K - 1) / 2 so the
        output has the input's height and width.
    init : str or None
        A name from ``INITIALIZERS``, or None to let the model choose by the activation that follows
        (as for Dense; "glorot" if nothing chooses). The kernel is drawn as the (C·K·K, F) weight matrix
        of a dense layer from one patch to the F filters, so fan_in = C·K·K and fan_out = F: he and
        lecun then equal PyTorch's conventions exactly; glorot's a = sqrt(6 / (C·K·K + F)) is larger
        than with the fan_out = F·K·K that PyTorch and Keras use. The bias starts as Dense's does.

    Shape
    -----
    x: (N, C, H, W) -> z: (N, F, OH, OW) with OH = (H + 2p - K) // s + 1, likewise OW.
    Parameters W: (F, C, K, K) (PyTorch's layout), b: (F,).
    """

    has_weights = True

    decayed = ("W",)

    def __init__(
        self, filters: int, kernel_size: int, stride: int = 1, padding: int | str = 0, init: str | None = None
    ):
        super().__init__()
        self.filters = checked_integer("Conv2D filters", filters)
        self.kernel_size = checked_integer("Conv2D kernel_size", kernel_size)
        self.stride = checked_integer("Conv2D stride", stride)
        if padding == "same":
            if self.stride != 1 or self.kernel_size % 2 == 0:
                raise ValueError(
                    f'Conv2D padding="same" needs stride 1 and an odd kernel_size, got stride {stride!r} '
                    f"and kernel_size {kernel_size!r}; give an integer padding instead"
                )
        elif not is_integer(padding, 0):
            raise ValueError(f'Conv2D padding must be a non-negative integer or "same", got {padding!r}')
        if init is not None and init not in INITIALIZERS:
            raise ValueError(f"unknown initialiser {init!r}; choose one of {sorted(INITIALIZERS)}")
        self.padding = padding if padding == "same" else int(padding)
        self.init = init
        self._reused: dict[str, np.ndarray] = {}  # large work arrays, kept from batch to batch while training
        self.valid_columns = False  # whether the last forward ran the kernels (their column layout)

    @property
    def pad(self) -> int:
        """p, the zero pixels on each side."""
        return (self.kernel_size - 1) // 2 if self.padding == "same" else self.padding

    def build(self, input_shape, rng):
        self.output_shape, _ = self.state_shapes(input_shape)  # checks input_shape
        c, h, w = self.input_shape = tuple(int(d) for d in input_shape)
        k = self.kernel_size
        self.init = self.init or "glorot"
        wm, b = initialize(self.init, rng, c * k * k, self.filters)  # (C·K·K, F), (F,)
        weights = np.ascontiguousarray(wm.T).reshape(self.filters, c, k, k)  # (F, C, K, K)
        self.params = {"W": weights, "b": b}
        self.grads = {"W": np.zeros_like(weights), "b": np.zeros_like(b)}
        return self.output_shape

    def state_shapes(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2D expects images of shape (N, C, H, W), got per-example shape {tuple(input_shape)}; "
                "give the model input_shape=(C, H, W), e.g. (1, 28, 28)"
            )
        c, h, w = (int(d) for d in input_shape)
        k, s, p, f = self.kernel_size, self.stride, self.pad, self.filters
        if h + 2 * p < k or w + 2 * p < k:
            raise ValueError(
                f"Conv2D kernel {k}x{k} is larger than its padded input {h + 2 * p}x{w + 2 * p} "
                f"(input {h}x{w}, padding {p}); use a smaller kernel_size or more padding"
            )
        output = (f, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        return output, {"W": (f, c, k, k), "b": (f,)}

    def _plan(self) -> tuple[int, int, int, int, int, list[int]]:
        """Padded size Hp, Wp; output size OH, OW; the number L of flat columns; each tap's offset."""
        _, h, w = self.input_shape
        k, s, p = self.kernel_size, self.stride, self.pad
        hp, wp = h + 2 * p, w + 2 * p
        oh, ow = (hp - k) // s + 1, (wp - k) // s + 1
        cols = (oh - 1) * wp + ow  # L: t = oh·Wp + ow runs over 0 .. L-1
        offsets = [i * wp + j for i in range(k) for j in range(k)]  # K·K taps, row-major like W
        return hp, wp, oh, ow, cols, offsets

    def _workspace(
        self, name: str, shape: tuple[int, ...], dtype, reuse: bool, zeros: bool = False
    ) -> np.ndarray:
        """A large work array: while training, the previous batch's ``name`` array when it has the same shape.

        They hold megabytes (the column matrix of 32 -> 64 filters of 5x5 on 14x14 maps at batch 64 is
        50 MB). Allocated afresh for every batch, the C library maps new pages each time and the kernel
        zeroes them: LeNet-5 trained at 11,600 samples/s instead of 13,400. A reused ``zeros`` array must
        only ever be written where it was not zero (the gradient's valid columns), so it stays zero
        elsewhere. Inference always takes fresh arrays, so concurrent predictions with one model cannot
        write into each other's.
        """
        old = self._reused.get(name)
        if reuse and old is not None and old.shape == shape and old.dtype == dtype:
            return old
        array = np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
        if reuse:
            self._reused[name] = array
        return array

    def forward(self, x, *, training=False, rng=None):
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"Conv2D built for (N, {self.input_shape}) inputs, got {x.shape}")
        n, c, h, w = x.shape
        k, s, p, f = self.kernel_size, self.stride, self.pad, self.filters
        hp, wp, oh, ow, cols, _ = self._plan()
        fast = kernels.for_arrays(x, *self.params.values(), *self.grads.values())
        self.valid_columns = fast is not None  # which column layout self.patches has, for backward
        if fast is not None:  # the classic columns, valid pixels only (see kernels' im2col)
            patches = self._workspace("valid_columns", (c * k * k, n * oh * ow), x.dtype, reuse=training)
            fast.im2col(x, patches, k, s, p, oh, ow)
            self.patches = patches  # (C·K·K, N·OH·OW)
            z = self.params["W"].reshape(f, c * k * k) @ patches  # (F, N·OH·OW)
            return fast.conv_output(z, self.params["b"], n, oh, ow)  # (N, F, OH, OW)
        if p:  # the border is written once, as zeros, and only the inside afterwards
            xp = self._workspace("padded", (n, c, hp, wp), x.dtype, reuse=training, zeros=True)
            xp[:, :, p : p + h, p : p + w] = x
        else:
            xp = x
        flat = np.ascontiguousarray(xp).reshape(n, c, hp * wp)  # (N, C, Hp·Wp)
        # Tap (i, j) of column t is flat pixel i·Wp + j + s·t: a strided view, copied once (im2col),
        # straight into the (C·K·K, N·L) layout of one product over the whole batch.
        px = flat.itemsize
        strides = (hp * wp * px, wp * px, px, c * hp * wp * px, s * px)
        taps = as_strided(flat, (c, k, k, n, cols), strides, writeable=False)  # (C, K, K, N, L)
        patches = self._workspace("columns", (c, k, k, n, cols), x.dtype, reuse=training)  # (C, K, K, N, L)
        np.copyto(patches, taps)
        self.patches = patches.reshape(c * k * k, n * cols)  # (C·K·K, N·L), kept for dL/dW
        z = self.params["W"].reshape(f, c * k * k) @ self.patches  # (F, C·K·K) @ (C·K·K, N·L) -> (F, N·L)
        step = z.itemsize
        valid = as_strided(
            z, (n, f, oh, ow), (cols * step, n * cols * step, wp * step, step)
        )  # (N, F, OH, OW)
        return np.add(valid, self.params["b"][:, None, None])  # (N, F, OH, OW), a fresh contiguous array

    def backward(self, grad_out, need_input_grad=True):
        n, f = grad_out.shape[:2]
        c, h, w = self.input_shape
        k, p, s = self.kernel_size, self.pad, self.stride
        hp, wp, oh, ow, cols, offsets = self._plan()
        fast = kernels.native() if self.valid_columns else None
        if fast is not None:  # G (F, N·OH·OW) in the kernels' layout, and dL/db, in one pass
            grad_out = grad_out.astype(self.patches.dtype, copy=False)  # the forward's dtype, as every array
            g = self._workspace("valid_gradient", (f, n * oh * ow), grad_out.dtype, reuse=True)
            fast.conv_gradient(grad_out, g, self.grads["b"])
        else:  # (F, N·L), zero in the garbage columns: only the valid ones are ever written
            g = self._workspace("gradient", (f, n * cols), grad_out.dtype, reuse=True, zeros=True)
            step = g.itemsize
            as_strided(g, (n, f, oh, ow), (cols * step, n * cols * step, wp * step, step))[...] = grad_out
            np.add.reduce(grad_out, axis=(0, 2, 3), out=self.grads["b"])  # (N, F, OH, OW) -> (F,)
        # dL/dW = G Xᵀ: one product whose inner dimension runs over every column of the batch. Computed as
        # its transpose X Gᵀ, the very same sums (bit-identical here), which OpenBLAS does 1.1 to 1.6
        # times as fast for these shapes: a short output dimension F is a poor fit for its kernels.
        weight_grad = self._workspace("weight_gradient", (c * k * k, f), g.dtype, reuse=True)
        np.matmul(self.patches, g.T, out=weight_grad)  # (C·K·K, N·L) @ (N·L, F) -> (C·K·K, F)
        self.grads["W"].reshape(f, c * k * k)[...] = weight_grad.T
        if not need_input_grad:
            return None
        dpatches = self._workspace("column_gradient", (c * k * k, g.shape[1]), g.dtype, reuse=True)
        np.matmul(self.params["W"].reshape(f, -1).T, g, out=dpatches)  # (C·K·K, F) @ (F, N·L) -> (C·K·K, N·L)
        if fast is not None:
            return fast.col2im(dpatches, (n, c, h, w), k, s, p, oh, ow)  # (N, C, H, W)
        dpatches = dpatches.reshape(c, k * k, n, cols)  # (C, K·K, N, L)
        dxp = self._workspace("padded_gradient", (c, n, hp * wp), g.dtype, reuse=True)  # (C, N, Hp·Wp)
        dxp.fill(0.0)  # col2im adds into it
        span = s * (cols - 1) + 1
        for tap, off in enumerate(offsets):
            dxp[:, :, off : off + span : s] += dpatches[:, tap]  # (C, N, L)
        dxp = dxp.reshape(c, n, hp, wp)[:, :, p : p + h, p : p + w]  # (C, N, H, W)
        return dxp.transpose(1, 0, 2, 3).copy()  # (N, C, H, W), never a view of the reused work array

    def config(self):
        return {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "init": self.init,
        }
