"""Optimisers: how each parameter moves given its gradient. Each owns its state and updates in place.

``step(params, grads)`` takes matching lists of arrays, the same list order every call; the optimiser
keeps per-parameter state (velocities, moments) by position.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet import kernels

__all__ = ["CHUNK", "OPTIMIZERS", "SGD", "Adam", "flush_subnormals", "in_slices"]


def _check_lr(lr):
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")
    return float(lr)


class SGD:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With gradient g, learning rate η and momentum μ (the form PyTorch uses)::

        plain:      θ ← θ - η g
        momentum:   v ← μ v + g;        θ ← θ - η v
        Nesterov:   v ← μ v + g;        θ ← θ - η (g + μ v)

    Momentum lets steps build up speed along directions where gradients agree and cancel where they
    oscillate; Nesterov evaluates that push one step ahead.
    """

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False):
        self.lr = _check_lr(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0, e.g. momentum=0.9")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity: list[np.ndarray] = []
        self._buffers: list[np.ndarray] = []  # scratch space for η·(step), so no step allocates
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if not self._buffers:
            self._buffers = [np.empty_like(p) for p in params]
        if self.momentum and not self.velocity:
            self.velocity = [np.zeros_like(p) for p in params]
        self.t += 1
        lr = params[0].dtype.type(self.lr)
        mu = params[0].dtype.type(self.momentum)

        def plain(p, g, buf):
            np.multiply(g, lr, out=buf)
            p -= buf

        def momentum(p, g, buf, v):
            v *= mu
            v += g
            if self.nesterov:
                np.multiply(v, mu, out=buf)
                buf += g  # g + μv
                buf *= lr
            else:
                np.multiply(v, lr, out=buf)
            p -= buf

        fast = _kernels_for(params, grads)
        if fast is not None:  # the same arithmetic in one pass per array (kernels' sgd_update)
            for i, (p, g) in enumerate(zip(params, grads)):
                fast.sgd_update(p, g, self.velocity[i] if self.momentum else None, lr, mu, self.nesterov)
        else:
            for arrays in zip(params, grads, self._buffers, *([self.velocity] if self.momentum else [])):
                in_slices(momentum if self.momentum else plain, arrays)
        if self.t % FLUSH_EVERY == 0:
            flush_subnormals(params + self.velocity)


class Adam:
    """Adam (Kingma & Ba 2015): a per-parameter step from running moments of the gradient.

    At step t, with gradient g::

        m ← β1 m + (1 - β1) g                 first moment (mean)
        v ← β2 v + (1 - β2) g²                second moment (uncentred variance)
        θ ← θ - η (m / (1 - β1ᵗ)) / (sqrt(v / (1 - β2ᵗ)) + ε)

    The division by the bias-corrected sqrt(v) gives every parameter a step of about η regardless of its
    gradient's scale. Defaults β1 = 0.9, β2 = 0.999, ε = 1e-8 are the paper's.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr = _check_lr(lr)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam {name} must be in [0, 1), got {beta!r}")
        if not eps > 0:
            raise ValueError(f"Adam eps must be positive, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self._buffers: list[np.ndarray] = []

    def step(self, params, grads):
        if not self.m:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
            self._buffers = [np.empty_like(p) for p in params]
        self.t += 1
        dtype = params[0].dtype.type
        b1, b2 = dtype(self.beta1), dtype(self.beta2)
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        step_size = dtype(self.lr / correction1)
        inv_sqrt_c2 = dtype(1.0 / np.sqrt(correction2))
        eps = dtype(self.eps)

        def update(p, g, m, v, buf):
            m *= b1
            np.multiply(g, 1 - b1, out=buf)
            m += buf
            v *= b2
            np.multiply(g, g, out=buf)
            buf *= 1 - b2
            v += buf
            np.sqrt(v, out=buf)  # buf = sqrt(v / (1 - β2ᵗ)) + ε
            buf *= inv_sqrt_c2
            buf += eps
            np.divide(m, buf, out=buf)
            buf *= step_size
            p -= buf

        fast = _kernels_for(params, grads)
        if fast is not None:  # the same arithmetic in one pass per array (kernels' adam_update)
            for p, g, m, v in zip(params, grads, self.m, self.v):
                fast.adam_update(p, g, m, v, b1, b2, step_size, inv_sqrt_c2, eps)
        else:
            for arrays in zip(params, grads, self.m, self.v, self._buffers):
                in_slices(update, arrays)
        if self.t % FLUSH_EVERY == 0:
            flush_subnormals(params + self.m + self.v)


def _kernels_for(params, grads):
    """The compiled kernels for an update of these arrays (one dtype; the state is made like the
    parameters), or None: also for a total of at most ``CHUNK`` values, where NumPy's update measured as
    fast (at batch 10 the kernel call cost more than it saved)."""
    if sum(p.size for p in params) <= CHUNK:
        return None
    return kernels.for_arrays(*params, *grads)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
"""Optimiser names, as the CLI and model files spell them, to their classes."""


# ----- the mechanics under every step: cache-sized slices, flushing vanishing values -----------------

# Elementwise updates of large flat arrays, in cache-sized slices.
#
# An optimiser's update is a dozen elementwise passes over the parameters, their gradients and its state.
# For 784-800-800-10 (1.3M parameters, 5 MB per array) each pass would stream every array from memory;
# done slice by slice, the passes over one slice hit the CPU cache instead, and memory is read and written
# about once per step. Each element's arithmetic is the same however the array is cut, so the results are
# bit-identical to whole-array passes.
#
# (Sharing the slices among threads was measured too: no faster here, since one core already nearly
# saturates the memory bus, and the extra thread competes with OpenBLAS's spinning workers.)

CHUNK = 65_536
"""Elements per slice: 256 kB of float32 per array (measured best of 8k to 128k here)."""


def in_slices(update: Callable[..., None], arrays: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    """Call ``update(*slices)`` on matching ``CHUNK``-sized slices of the equally shaped ``arrays``.

    ``update`` must be elementwise: slice i of its outputs may depend only on slice i of its inputs.
    Arrays of at most ``CHUNK`` elements, whatever their shape, go to ``update`` whole.

    Shape: every array (P,), or any one shape shared by all.
    """
    size = arrays[0].size
    if size <= CHUNK:
        update(*arrays)  # one slice: the whole array
        return
    flat = [a.reshape(-1) for a in arrays]  # (P,) views
    for start in range(0, size, CHUNK):
        update(*(a[start : start + CHUNK] for a in flat))


FLUSH_EVERY = 100
"""Steps between flushes of vanishing values (see :func:`flush_subnormals`); 1% of steps pay for it."""

FLUSH_BELOW = 1e-30
"""Values smaller than this are set to zero: 27 orders of magnitude below a typical weight, so no result
changes, and 8 orders above float32's subnormal range, so a decaying value is caught before it gets there."""


def flush_subnormals(arrays: list[np.ndarray]) -> None:
    """Set every value with |x| < ``FLUSH_BELOW`` to exactly zero, before it becomes subnormal.

    Weights fed by pixels that are always zero (MNIST's border) get no gradient but the L2 term, so
    they and their optimiser state decay geometrically until they become subnormal (|x| < 1.18e-38 in
    float32), and arithmetic on subnormal numbers is 10-100x slower on most CPUs: an epoch of
    784-100-10 slowed from 0.7 s to 3.4 s. Once flushed to exactly zero they stay zero, so an
    occasional flush is enough.
    """
    for a in arrays:
        np.copyto(a, 0, where=np.abs(a) < FLUSH_BELOW)
