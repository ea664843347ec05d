"""The built kernels as Python functions of NumPy arrays (ctypes, one call per pass).

Each method checks nothing the layers have not checked already, except what C cannot survive: the arrays
it writes through are made here or asserted C-contiguous, and every input is made contiguous (a no-op for
the layers' own arrays). float32 and float64 each have their own compiled function (``_f32``, ``_f64``);
``supports(dtype)`` says which dtypes there are.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

__all__ = ["ABI", "NativeKernels"]

ABI = 1
"""The C side's ``DIGITNET_KERNELS_ABI``: a library that answers otherwise is stale and is rebuilt."""

_P, _I, _D, _F, _N = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_float, ctypes.c_int
_R = "real"  # float for the _f32 function, double for _f64

_SIGNATURES = {
    "maxpool_forward": ([_P, _P, _P, _I, _I, _I, _I, _I, _I, _I], None),
    "maxpool_backward": ([_P, _P, _P, _I, _I, _I, _I, _I, _I, _I], None),
    "batchnorm_forward": ([_P, _P, _P, _P, _P, _P, _P, _I, _I, _I, _D, _N], None),
    "batchnorm_backward": ([_P, _P, _P, _P, _P, _P, _P, _P, _P, _I, _I, _I, _N], None),
    "im2col": ([_P, _P, _P, _I, _I, _I, _I, _I, _I, _I, _I, _I], None),
    "col2im": ([_P, _P, _P, _I, _I, _I, _I, _I, _I, _I, _I, _I], None),
    "conv_output": ([_P, _P, _P, _I, _I, _I], None),
    "conv_gradient": ([_P, _P, _P, _I, _I, _I], None),
    "softmax_cross_entropy": ([_P, _P, _P, _I, _I], _D),
    "adam_update": ([_P, _P, _P, _P, _I, _R, _R, _R, _R, _R, _R, _R], None),
    "sgd_update": ([_P, _P, _P, _I, _R, _R, _N], None),
    "dropout_forward": ([_P, _P, _P, _P, _I, _F, _R], None),
}
_TYPES = {np.dtype(np.float32): ("f32", ctypes.c_float), np.dtype(np.float64): ("f64", ctypes.c_double)}


def _at(array: np.ndarray | None, dtype, size: int) -> int | None:
    """The address of a C-contiguous array of ``size`` values of ``dtype`` (None stays NULL).

    C reads and writes exactly what the shapes say, so an array of another dtype or size would be read
    past its end or written over its neighbour: refused here, whatever the caller checked.
    """
    if array is None:
        return None
    if array.dtype != dtype or array.size != size or not array.flags.c_contiguous:
        raise ValueError(
            f"a kernel needs a C-contiguous {np.dtype(dtype)} array of {size} values, "
            f"got {array.dtype} {array.shape}{'' if array.flags.c_contiguous else ' (not contiguous)'}"
        )
    return array.ctypes.data


def _contiguous(array: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype)


class NativeKernels:
    """The functions of one built library. ``path`` is the file it was loaded from.

    Raises OSError when the file cannot be loaded or answers with another ABI number (a stale build).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        library = ctypes.CDLL(str(self.path))
        library.digitnet_kernels_abi.restype = ctypes.c_int
        found = library.digitnet_kernels_abi()
        if found != ABI:
            raise OSError(f"{self.path} has kernel ABI {found}, this digitnet needs {ABI}")
        self._functions = {}
        for name, (argtypes, restype) in _SIGNATURES.items():
            for dtype, (suffix, real) in _TYPES.items():
                function = getattr(library, f"{name}_{suffix}")
                function.argtypes = [real if a == _R else a for a in argtypes]
                function.restype = restype
                self._functions[name, dtype] = function
        self._library = library  # keeps it loaded

    @staticmethod
    def supports(dtype) -> bool:
        """Whether arrays of ``dtype`` have kernels (float32 and float64)."""
        return np.dtype(dtype) in _TYPES

    def _call(self, name: str, dtype, *args):
        return self._functions[name, np.dtype(dtype)](*args)

    # ---- max-pooling (twins: MaxPool2D.forward and .backward) ----------------------------------------

    def maxpool_forward(self, x, k: int, s: int, oh: int, ow: int) -> tuple[np.ndarray, np.ndarray]:
        """x (N, C, H, W) -> y (N, C, OH, OW) and each window's arg-max tap (N, C, OH, OW) uint8."""
        x = _contiguous(x, x.dtype)
        n, c, h, w = x.shape
        y = np.empty((n, c, oh, ow), x.dtype)
        arg = np.empty((n, c, oh, ow), np.uint8)
        self._call(
            "maxpool_forward",
            x.dtype,
            x.ctypes.data,
            y.ctypes.data,
            arg.ctypes.data,
            n * c,
            h,
            w,
            k,
            s,
            oh,
            ow,
        )
        return y, arg

    def maxpool_backward(self, g, arg, input_shape, k: int, s: int) -> np.ndarray:
        """g (N, C, OH, OW) and the forward's arg-max (the same shape) -> dx (N, C, H, W)."""
        g = _contiguous(g, g.dtype)
        n, c, oh, ow = g.shape
        h, w = input_shape[-2:]
        dx = np.empty((n, c, h, w), g.dtype)
        args = (g.ctypes.data, _at(arg, np.uint8, g.size), dx.ctypes.data)
        self._call("maxpool_backward", g.dtype, *args, n * c, h, w, k, s, oh, ow)
        return dx

    # ---- batch normalisation of images, training (twins: BatchNorm.forward and .backward) ---------------

    def batchnorm_forward(self, x, gamma, beta, eps: float, relu: bool = False):
        """x (N, C, H, W) contiguous -> y, and the batch's mean, biased variance and 1/sqrt(var + eps),
        each (C,). ``gamma`` and ``beta`` (C,) of x's dtype."""
        n, c = x.shape[:2]
        t = x.dtype
        y = np.empty_like(x)
        mean, var, inv_std = (np.empty(c, t) for _ in range(3))
        args = (_at(x, t, x.size), y.ctypes.data, _at(gamma, t, c), _at(beta, t, c))
        args += (mean.ctypes.data, var.ctypes.data, inv_std.ctypes.data)
        self._call("batchnorm_forward", t, *args, n, c, x[0, 0].size, eps, int(relu))
        return y, mean, var, inv_std

    def batchnorm_backward(self, g, x, y, gamma, mean, inv_std, dgamma, dbeta, need_dx, relu=False):
        """dL/dx (or None without ``need_dx``); dL/dγ and dL/dβ are written into ``dgamma``, ``dbeta``.
        Every array of x's dtype; g, x and y of x's shape, the others (C,)."""
        n, c = x.shape[:2]
        t = x.dtype
        g = _contiguous(g, t)
        dx = np.empty_like(x) if need_dx else None
        args = (_at(g, t, x.size), _at(x, t, x.size), _at(y, t, x.size), _at(gamma, t, c))
        args += (_at(mean, t, c), _at(inv_std, t, c), None if dx is None else dx.ctypes.data)
        args += (_at(dgamma, t, c), _at(dbeta, t, c))
        self._call("batchnorm_backward", t, *args, n, c, x[0, 0].size, int(relu))
        return dx

    # ---- convolution (twins: the passes of Conv2D.forward and .backward around the products) -----------

    def im2col(self, x, columns, k: int, s: int, p: int, oh: int, ow: int) -> None:
        """x (N, C, H, W) -> ``columns`` (C·K·K, N·OH·OW), only the valid pixels, written in place."""
        t = columns.dtype
        x = _contiguous(x, t)
        n, c, h, w = x.shape
        padded = np.empty((h + 2 * p) * (w + 2 * p), t)
        args = (x.ctypes.data, _at(columns, t, c * k * k * n * oh * ow), padded.ctypes.data)
        self._call("im2col", t, *args, n, c, h, w, k, s, p, oh, ow)

    def col2im(self, dcolumns, input_shape, k: int, s: int, p: int, oh: int, ow: int) -> np.ndarray:
        """dL/d(columns) (C·K·K, N·OH·OW) -> dL/dx (N, C, H, W)."""
        n, c, h, w = input_shape
        t = dcolumns.dtype
        dx = np.empty((n, c, h, w), t)
        padded = np.empty((h + 2 * p) * (w + 2 * p), t)
        args = (_at(dcolumns, t, c * k * k * n * oh * ow), dx.ctypes.data, padded.ctypes.data)
        self._call("col2im", t, *args, n, c, h, w, k, s, p, oh, ow)
        return dx

    def conv_output(self, z, bias, n: int, oh: int, ow: int) -> np.ndarray:
        """The product z (F, N·OH·OW) -> the layer's output (N, F, OH, OW), bias (F,) added."""
        f, t = z.shape[0], z.dtype
        out = np.empty((n, f, oh, ow), t)
        args = (_at(z, t, f * n * oh * ow), _at(bias, t, f), out.ctypes.data)
        self._call("conv_output", t, *args, n, f, oh * ow)
        return out

    def conv_gradient(self, g, columns, bias_grad) -> None:
        """g (N, F, OH, OW) -> ``columns`` (F, N·OH·OW) and ``bias_grad`` (F,), written in place."""
        t = columns.dtype
        g = _contiguous(g, t)
        n, f, oh, ow = g.shape
        args = (g.ctypes.data, _at(columns, t, g.size), _at(bias_grad, t, f))
        self._call("conv_gradient", t, *args, n, f, oh * ow)

    # ---- the cost, the optimisers, dropout ------------------------------------------------------------

    def softmax_cross_entropy(self, z, labels) -> tuple[float, np.ndarray]:
        """Mean cross-entropy of logits z (N, C) and its gradient (N, C) (twin: CrossEntropy);
        labels (N,) class ids from 0 to C - 1."""
        z = _contiguous(z, z.dtype)
        labels = _contiguous(labels, np.int64)
        n, classes = z.shape
        if labels.shape != (n,) or (n and (labels.min() < 0 or labels.max() >= classes)):
            raise IndexError(f"labels must be {n} class ids from 0 to {classes - 1}")
        grad = np.empty_like(z)
        loss = self._call(
            "softmax_cross_entropy", z.dtype, z.ctypes.data, labels.ctypes.data, grad.ctypes.data, n, classes
        )
        return float(loss), grad

    def adam_update(self, param, grad, m, v, b1, b2, step_size, inv_sqrt_c2, eps) -> None:
        """One Adam step over one parameter array, in place (twin: Adam.step); scalars of its dtype."""
        t, size = param.dtype, param.size
        one = t.type(1)
        args = (_at(param, t, size), _at(grad, t, size), _at(m, t, size), _at(v, t, size), size)
        self._call("adam_update", t, *args, b1, one - b1, b2, one - b2, step_size, inv_sqrt_c2, eps)

    def sgd_update(self, param, grad, velocity, lr, mu, nesterov: bool) -> None:
        """One SGD step over one parameter array, in place (twin: SGD.step); velocity None for plain SGD."""
        t, size = param.dtype, param.size
        args = (_at(param, t, size), _at(grad, t, size), _at(velocity, t, size), size)
        self._call("sgd_update", t, *args, lr, mu, int(nesterov))

    def dropout_forward(self, uniform, x, keep, scale) -> tuple[np.ndarray, np.ndarray]:
        """Mask (u < keep)·scale and y = x·mask from float32 draws u of x's shape (twin: Dropout.forward)."""
        x = _contiguous(x, x.dtype)
        mask, y = np.empty_like(x), np.empty_like(x)
        args = (_at(uniform, np.float32, x.size), x.ctypes.data, mask.ctypes.data, y.ctypes.data)
        self._call("dropout_forward", x.dtype, *args, x.size, keep, scale)
        return mask, y
