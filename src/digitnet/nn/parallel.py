"""Data parallelism on the CPU's cores: each mini-batch split between model replicas, one gradient.

Why it helps convolutional networks
-----------------------------------
NumPy runs every elementwise operation on one core; only the BLAS products use them all. A
convolutional network spends about half its step outside the products (im2col and col2im copies,
pooling, ReLU, the bias), so one of two cores idles for half the step. Here each of W workers takes a
shard of the batch through its own replica of the model, in its own thread, with one BLAS thread each:
NumPy and the BLAS release the GIL while they compute, so the shards run at the same time. Measured on
a 2-core machine with W = 2: LeNet-5 and the ``cnn`` preset trained 1.36 and 1.41 times as fast in
``benchmarks/speed.py``, and their whole 20- and 15-epoch runs 1.39 and 1.49 times as fast. Not 2: the
two cores share the memory bus and the cache, and each shard's Python code waits for the GIL. An MLP
does not gain (784-100-10 at batch 128 took 683 µs per step instead of
603 µs): its step is nearly all BLAS products, which use both cores already, plus a fixed Python cost
per shard.

The maths
---------
Shard s has N_s of the batch's N examples (or the weight sum W_s of W, with per-example weights), and its
replica computes the gradient g_s of its shard's mean cost C_s. The batch's mean cost and gradient are
the shards' weighted means::

    C = Σ_s (N_s / N) C_s          dC/dθ = Σ_s (N_s / N) g_s

The replicas share the model's parameters (views of the same ``flat_params``), so there is nothing to
copy or synchronise: every replica reads the same weights, the optimiser updates them once per step.
Each replica has its own gradients, caches and work arrays.

Where it differs from one worker
--------------------------------
* Batch normalisation normalises each shard by that shard's own mean and variance ("ghost" batch
  normalisation, as in PyTorch's DistributedDataParallel without SyncBatchNorm); the running statistics
  that the model keeps for inference are the first shard's.
* Dropout masks come from one generator per replica, split off the training generator once.
* The shards' gradients are added in a different order from one product over the whole batch.

So training with W workers is reproducible (same seed and W, same weights), but not bit-identical to
training with one.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digitnet.nn.model import Sequential

__all__ = ["Replicas"]


class Replicas:
    """``workers`` replicas of ``model`` that share its parameters, and the threads that run them.

    ::

        replicas = Replicas(model, workers=2, rng=rng)
        loss = replicas.forward_backward(x, y, weights, predicted)  # the gradient is in model.flat_grads
        replicas.close()  # stops the threads

    Parameters
    ----------
    model : Sequential
        Replica 0 is the model itself: its gradients receive the batch's, and its buffers (batch
        normalisation's running statistics) are the ones kept.
    workers : int
        W, at least 1; W = 1 runs the batch in the calling thread, exactly as without replicas.
    rng : numpy.random.Generator
        Replica 0 draws its dropout masks from it; each other replica gets a generator split off it.
    """

    def __init__(self, model: Sequential, workers: int, rng: np.random.Generator):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.models = [model] + [model.replica() for _ in range(workers - 1)]
        self.rngs = [rng] + [np.random.default_rng(rng.integers(2**63)) for _ in range(workers - 1)]
        self._pool, self._scratch = None, None
        if workers > 1:
            self._pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="digitnet-worker")
            self._scratch = np.empty_like(model.flat_grads)  # (P,)

    def close(self) -> None:
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown()

    def forward_backward(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, predicted: np.ndarray
    ) -> float:
        """The batch's mean cost; its gradient lands in the model's ``flat_grads``.

        Shapes: x (N, *input_shape), y (N,), weights (N,) or None; ``predicted`` (N,) receives each
        example's predicted class.
        """
        n = len(x)
        workers = min(len(self.models), n)
        if workers == 1:  # the plain loop, with nothing added: at batch 10 a step is only about 50 µs
            return self._shard(0, x, y, weights, predicted)
        bounds = [n * s // workers for s in range(workers + 1)]
        shards = list(zip(bounds, bounds[1:]))  # (first, end) of replica s's examples; replica 0 first
        pending = [
            self._pool.submit(self._quiet_shard, s, *self._cut(x, y, weights, predicted, lo, hi))
            for s, (lo, hi) in enumerate(shards[1:], start=1)
        ]
        losses = [self._quiet_shard(0, *self._cut(x, y, weights, predicted, *shards[0]))]
        losses += [job.result() for job in pending]
        total = n if weights is None else float(np.sum(weights))  # N, or W with example weights
        if not total > 0:  # no example weighs anything: no mean, and fit says so, as with one worker
            return math.nan
        shares = [
            (hi - lo if weights is None else float(np.sum(weights[lo:hi]))) / total for lo, hi in shards
        ]
        grads = self.models[0].flat_grads  # (P,): the shards' gradients, weighted and added, end up here
        dtype = grads.dtype.type
        if shares[0] > 0:
            grads *= dtype(shares[0])
        else:  # a shard whose examples all weigh 0 has no mean (0/0): it contributes nothing
            grads[...] = 0
        for s, share in enumerate(shares[1:], start=1):
            if share > 0:
                np.multiply(self.models[s].flat_grads, dtype(share), out=self._scratch)
                grads += self._scratch
        return float(sum(share * loss for share, loss in zip(shares, losses) if share > 0))

    @staticmethod
    def _cut(x, y, weights, predicted, lo: int, hi: int) -> tuple:
        """Examples lo..hi-1 of the batch: their inputs, labels, weights and slots for predictions."""
        return x[lo:hi], y[lo:hi], None if weights is None else weights[lo:hi], predicted[lo:hi]

    def _shard(self, s: int, x, y, weights, predicted) -> float:
        """Forward, the cost and backward of replica s on its shard; returns the shard's mean cost."""
        model = self.models[s]
        out = model.forward(x, training=True, rng=self.rngs[s])  # (N_s, C)
        np.argmax(out, axis=1, out=predicted)
        loss, grad = model.cost.loss_and_gradient(out, y, weights)
        model.backward(grad, input_grad=False)
        return loss

    def _quiet_shard(self, s: int, x, y, weights, predicted) -> float:
        """``_shard`` ignoring overflow and invalid values, as fit does: NumPy's error state belongs to each
        thread, so fit's does not reach the workers. Fit reports a NaN or infinite loss itself, and a
        shard whose examples all weigh 0 (a 0/0 mean) is expected and left out."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._shard(s, x, y, weights, predicted)
