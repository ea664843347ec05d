"""Batch normalisation: rescale each feature (or channel) to zero mean and unit variance, then learn a scale
and shift for it (Ioffe & Szegedy 2015).

Normalised inputs keep every layer's weighted sums in a useful range however the weights below change,
which allows larger learning rates. Shape letters as in :mod:`digitnet.nn.conv`, plus D, features of a
flat input; M is the number of values each statistic is taken over: N for (N, D) inputs, N·H·W for
(N, C, H, W) inputs (one mean and variance per channel, over the batch and every pixel).
"""

from __future__ import annotations

import numpy as np

from digitnet import kernels
from digitnet.nn.layer import Layer, register_layer

__all__ = ["BatchNorm"]


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@register_layer
class BatchNorm(Layer):
    """y = γ · (x - μ) / sqrt(σ² + ε) + β, per feature (N, D) or per channel (N, C, H, W).

    Training (``training=True``) normalises with the batch's own statistics, over the M values of each
    feature::

        μ = (1/M) Σ x,   σ² = (1/M) Σ (x - μ)²   (biased),   x̂ = (x - μ) / sqrt(σ² + ε),   y = γ x̂ + β

    and updates the running statistics as PyTorch does, with the unbiased variance::

        running_mean ← (1 - m) · running_mean + m · μ
        running_var  ← (1 - m) · running_var  + m · σ² · M / (M - 1)

    Backward (training), with g = dL/dy; every x shifts μ and σ², hence the two correction terms::

        dL/dβ = Σ g,   dL/dγ = Σ g ⊙ x̂
        dL/dx = γ / sqrt(σ² + ε) · (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂))   (means over the M values)

    Trained with ``fit(..., workers=W)``, each worker's shard of the batch is normalised by the shard's own
    μ and σ², and the running statistics kept are the first shard's (see :mod:`digitnet.nn.parallel`).

    Inference (``training=False``) uses the running statistics, so it is a fixed affine map::

        y = a ⊙ x + (β - a ⊙ running_mean),   a = γ / sqrt(running_var + ε)
        dL/dx = a ⊙ g,   dL/dγ = Σ g ⊙ x̂ with x̂ = (x - running_mean) / sqrt(running_var + ε),   dL/dβ = Σ g

    With the compiled kernels (:mod:`digitnet.kernels`), training on images runs forward and backward as
    one kernel each, which keeps x, μ and 1/sqrt(σ² + ε) and recomputes x̂ from them in backward.

    Parameters
    ----------
    momentum : float
        m in [0, 1], the weight of each new batch in the running statistics. 0.1 is PyTorch's default:
        the running values average over roughly the last 10 batches.
    eps : float
        ε > 0 keeps the division finite for a feature that is constant in the batch. 1e-5 as PyTorch.

    Attributes
    ----------
    params : {"gamma": (P,), "beta": (P,)}
        γ starts at 1 and β at 0, so the layer starts as plain normalisation. P is D or C.
    buffers : {"running_mean": (P,), "running_var": (P,)}
        The statistics inference uses, starting at 0 and 1; saved with the model, never trained.

    Shape
    -----
    x: (N, D) -> y: (N, D), or x: (N, C, H, W) -> y: (N, C, H, W).
    """

    decayed = ()

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        if not _is_real(momentum) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must be a number in [0, 1], got {momentum!r}")
        if not _is_real(eps) or not 0.0 < eps < np.inf:
            raise ValueError(f"BatchNorm eps must be a positive number, got {eps!r}")
        self.momentum = float(momentum)
        self.eps = float(eps)

    def build(self, input_shape, rng):
        self.output_shape, _ = self.state_shapes(input_shape)  # checks input_shape
        self.input_shape = self.output_shape
        p = self.input_shape[0]
        self.params = {"gamma": np.ones(p, np.float32), "beta": np.zeros(p, np.float32)}
        self.grads = {"gamma": np.zeros(p, np.float32), "beta": np.zeros(p, np.float32)}
        self.buffers = {"running_mean": np.zeros(p, np.float32), "running_var": np.ones(p, np.float32)}
        return self.output_shape

    def state_shapes(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(
                "BatchNorm expects flat inputs (N, D) or images (N, C, H, W), got per-example shape "
                f"{tuple(input_shape)}"
            )
        p = (int(input_shape[0]),)
        return tuple(int(d) for d in input_shape), {
            "gamma": p,
            "beta": p,
            "running_mean": p,
            "running_var": p,
        }

    def _axes_and_shape(self, x):
        """The axes a statistic sums over, and the shape that broadcasts a (P,) vector against x."""
        if x.ndim == 2:
            return (0,), (-1,)  # (N, D): over the batch
        return (0, 2, 3), (-1, 1, 1)  # (N, C, H, W): over the batch and the pixels

    def forward(self, x, *, training=False, rng=None):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"BatchNorm built for (N, {self.input_shape}) inputs, got {x.shape}")
        axes, per = self._axes_and_shape(x)
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.training = training
        if not training:
            inv_std = 1.0 / np.sqrt(self.buffers["running_var"] + self.eps)  # (P,)
            scale = gamma * inv_std  # (P,)
            shift = beta - self.buffers["running_mean"] * scale  # (P,)
            self.x, self.inv_std, self.scale = x, inv_std, scale.reshape(per)  # x̂ waits for backward
            return x * self.scale + shift.reshape(per)
        count = x.size // x.shape[1]  # M, the values per feature
        if count < 2:
            raise ValueError(
                f"BatchNorm needs more than one value per feature to train, got input of shape {x.shape}; "
                "use batches of at least 2 examples"
            )
        fast = kernels.for_arrays(x, gamma, beta, *self.grads.values()) if x.ndim == 4 else None
        if fast is not None:
            x = np.ascontiguousarray(x)  # kept for backward, which the kernel reads as one block
            y, mean, var, inv_std = fast.batchnorm_forward(x, gamma, beta, self.eps)
            self.x, self.mean, self.inv_std, self.x_hat = x, mean, inv_std, None
            self._update_running(mean, var, count)
            return y
        mean = x.mean(axis=axes)  # (P,)
        centred = x - mean.reshape(per)  # x's shape
        squares = np.square(centred)  # x's shape, a work array
        var = np.mean(squares, axis=axes)  # (P,), biased
        inv_std = 1.0 / np.sqrt(var + self.eps)  # (P,)
        self.x_hat = np.multiply(centred, inv_std.reshape(per), out=centred)  # x's shape, in place
        self.scale = (gamma * inv_std).reshape(per)  # γ / sqrt(σ² + ε), broadcastable
        self._update_running(mean, var, count)
        y = np.multiply(self.x_hat, gamma.reshape(per), out=squares)  # reuses the work array
        y += beta.reshape(per)
        return y

    def _update_running(self, mean, var, count):
        """The running statistics' step towards this batch's μ and (unbiased) σ²."""
        m = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1.0 - m
        running_mean += m * mean
        running_var *= 1.0 - m
        running_var += (m * count / (count - 1)) * var

    def backward(self, grad_out, need_input_grad=True):
        axes, per = self._axes_and_shape(grad_out)
        if self.training and self.x_hat is None:  # the compiled kernels' forward ran
            gamma, x = self.params["gamma"], self.x
            fast = kernels.for_arrays(grad_out, x, gamma)
            if fast is not None:
                dgamma, dbeta = self.grads["gamma"], self.grads["beta"]
                args = (grad_out, x, x, gamma, self.mean, self.inv_std, dgamma, dbeta, need_input_grad)
                return fast.batchnorm_backward(*args)
            # a gradient of another dtype: x̂ and the scale as the NumPy forward keeps them
            self.x_hat = (x - self.mean.reshape(per)) * self.inv_std.reshape(per)
            self.scale = (gamma * self.inv_std).reshape(per)
        if not self.training:  # x̂ from the running statistics the forward pass used
            self.x_hat = (self.x - self.buffers["running_mean"].reshape(per)) * self.inv_std.reshape(per)
        np.add.reduce(grad_out, axis=axes, out=self.grads["beta"])  # x's shape -> (P,)
        work = np.multiply(grad_out, self.x_hat)  # x's shape: g ⊙ x̂
        np.add.reduce(work, axis=axes, out=self.grads["gamma"])  # x's shape -> (P,)
        if not need_input_grad:
            return None
        if not self.training:
            return np.multiply(grad_out, self.scale, out=work)
        count = grad_out.size // grad_out.shape[1]  # M
        mean_g = (self.grads["beta"] / count).reshape(per)  # mean(g), (P,) broadcastable
        mean_gx = (self.grads["gamma"] / count).reshape(per)  # mean(g ⊙ x̂)
        # scale · (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂)), evaluated in that order, in one work array
        grad_in = np.subtract(grad_out, mean_g, out=work)
        grad_in -= self.x_hat * mean_gx  # x̂ stays as it was: backward may be called again
        grad_in *= self.scale
        return grad_in

    def config(self):
        return {"momentum": self.momentum, "eps": self.eps}
