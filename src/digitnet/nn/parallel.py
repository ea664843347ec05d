"""Data parallelism on the CPU's cores: each mini-batch split between worker processes, one gradient.

Why it helps convolutional networks
-----------------------------------
NumPy runs every elementwise operation on one core; only the BLAS products use them all. A
convolutional network spends about half its step outside the products (im2col and col2im copies,
pooling, ReLU, the bias), so one of two cores idles for half the step. Here the batch is cut into W
shards: the calling process computes the first and W - 1 worker processes compute the others, each with
its own copy of the network and one BLAS thread, on its own core. Processes rather than threads: two
threads ran LeNet-5's halves in 8.7 ms per batch of 64 where two processes take the 5.9 ms that one half
takes alone, because a thread needs Python's GIL for the Python code around every NumPy call and for
setting each call up, and a LeNet-5 step makes hundreds of calls.

Measured on a 2-core machine with W = 2 (``benchmarks/speed.py``, and the presets' whole runs): see the
README's Performance section. An MLP loses (784-100-10 at batch 128: 848 µs per step with 2 workers,
587 µs with one): its step is nearly all BLAS products, which use both cores already, and each step
waits for the other process.

The maths
---------
Shard s has N_s of the batch's N examples (or the weight sum W_s of W, with per-example weights), and
its copy computes the gradient g_s of its shard's mean cost C_s. The batch's mean cost and gradient are
the shards' weighted means::

    C = Σ_s (N_s / N) C_s          dC/dθ = Σ_s (N_s / N) g_s

How the processes share the work
--------------------------------
The parameters live in shared memory for the whole of training: the model's ``flat_params`` become a
view of it, and every worker's network reads the same array, so the optimiser's in-place update is
seen by all with nothing copied. Each worker writes its gradient into a shared (P,) array of its own and
reads its shard's images from a shared input buffer; labels, weights, losses and predictions travel
through a pipe. Shared memory here is an unnamed temporary file in ``/dev/shm`` (memory, not disk),
mapped by both processes through a file descriptor: nothing to name, nothing left behind if a process
dies. A worker is ``python -m digitnet.nn.parallel_worker``: a fresh interpreter that imports only
digitnet, whatever script started the training.

Where it differs from one worker
--------------------------------
* Batch normalisation normalises each shard by that shard's own mean and variance ("ghost" batch
  normalisation, as in PyTorch's DistributedDataParallel without SyncBatchNorm); the running statistics
  kept for inference are the first shard's, computed in the calling process.
* Dropout masks come from one generator per shard, split off the training generator once.
* The shards' gradients are added in a different order from one product over the whole batch.

So training with W workers is reproducible (same seed and W, same weights), but not bit-identical to
training with one.
"""

from __future__ import annotations

import math
import mmap
import os
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digitnet.nn.model import Sequential

__all__ = ["Replicas"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds digitnet, for the workers


class Replicas:
    """The model in this process plus ``workers - 1`` worker processes with copies that share its weights.

    ::

        replicas = Replicas(model, workers=2, rng=rng, batch_size=64)
        loss = replicas.forward_backward(x, y, weights, predicted)  # the gradient is in model.flat_grads
        replicas.close()  # stops the workers; the model keeps the trained weights in its own memory

    Parameters
    ----------
    model : Sequential
        Computes the first shard of every batch; its gradients receive the batch's, and its buffers
        (batch normalisation's running statistics) are the ones kept.
    workers : int
        W, at least 1; W = 1 computes the whole batch in this process, exactly as without replicas.
    rng : numpy.random.Generator
        The first shard's dropout masks come from it; each worker gets a generator split off it.
    batch_size : int
        The largest batch to be split (sizes the shared input buffers).
    """

    def __init__(self, model: Sequential, workers: int, rng: np.random.Generator, batch_size: int = 1024):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.model, self.rng, self.workers, self._params_file = model, rng, [], None
        if workers == 1:
            return
        if os.name != "posix":
            raise ValueError("workers > 1 needs Linux or macOS (file descriptors passed to worker processes)")
        seeds = [int(rng.integers(2**63)) for _ in range(workers - 1)]
        self._params_file, params = shared_array(model.flat_params.shape, model.flat_params.dtype)
        self._scratch = np.empty_like(model.flat_grads)  # (P,): a worker's share of the gradient
        params[...] = model.flat_params
        model._pack_parameters(params=params)  # from now on the weights live in shared memory
        try:
            shard = -(-batch_size // workers) * int(np.prod(model.input_shape))  # ceil(B / W) inputs
            for seed in seeds:
                self.workers.append(_Worker(model, self._params_file, seed, shard))
        except BaseException:
            self.close()
            raise

    def forward_backward(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, predicted: np.ndarray
    ) -> float:
        """The batch's mean cost; its gradient lands in the model's ``flat_grads``.

        Shapes: x (N, *input_shape), y (N,), weights (N,) or None; ``predicted`` (N,) receives each
        example's predicted class.
        """
        n = len(x)
        shards = min(len(self.workers) + 1, n)
        if shards == 1:  # the plain step, with nothing added: at batch 10 a step is only about 50 µs
            return step(self.model, self.rng, x, y, weights, predicted)
        bounds = [n * s // shards for s in range(shards + 1)]
        ranges = list(zip(bounds, bounds[1:]))  # (first, end) of shard s; shard 0 is computed here

        def cut(lo: int, hi: int) -> tuple:
            return x[lo:hi], y[lo:hi], None if weights is None else weights[lo:hi]

        busy = self.workers[: shards - 1]
        for worker, (lo, hi) in zip(busy, ranges[1:]):
            worker.start(*cut(lo, hi))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as in fit and the workers
            losses = [step(self.model, self.rng, *cut(*ranges[0]), predicted[: bounds[1]])]
        for worker, (lo, hi) in zip(busy, ranges[1:]):
            losses.append(worker.finish(predicted[lo:hi]))
        total = n if weights is None else float(np.sum(weights))  # N, or W with example weights
        if not total > 0:  # no example weighs anything: no mean, and fit says so, as with one worker
            return math.nan
        shares = [
            (hi - lo if weights is None else float(np.sum(weights[lo:hi]))) / total for lo, hi in ranges
        ]
        grads = self.model.flat_grads  # (P,): the shards' gradients, weighted and added, end up here
        dtype = grads.dtype.type
        if shares[0] > 0:
            grads *= dtype(shares[0])
        else:  # a shard whose examples all weigh 0 has no mean (0/0): it contributes nothing
            grads[...] = 0
        for worker, share in zip(busy, shares[1:]):
            if share > 0:
                np.multiply(worker.grads, dtype(share), out=self._scratch)
                grads += self._scratch
        return float(sum(share * loss for share, loss in zip(shares, losses) if share > 0))

    def close(self) -> None:
        """Stop the workers and give the model its weights back in its own memory."""
        for worker in self.workers:
            worker.stop()
        self.workers = []
        if self._params_file is not None:
            model = self.model  # its gradients were in its own memory all along
            model._pack_parameters(params=model.flat_params.copy(), grads=model.flat_grads, copy=False)
            self._params_file.close()  # the mapping itself goes with the last array that views it
            self._params_file = None


def shared_array(shape: tuple[int, ...], dtype) -> tuple:
    """A zeroed array in memory that another process can map: (the open file behind it, the array).

    The file is an unnamed temporary file, in ``/dev/shm`` where that has room (so in memory, not on
    disk: a full ``/dev/shm`` would crash the process that writes past it), else in the temporary folder;
    a worker maps it through the file's descriptor.
    """
    nbytes = _nbytes(shape, dtype)
    try:
        stats = os.statvfs("/dev/shm")
        file = (
            tempfile.TemporaryFile(dir="/dev/shm") if stats.f_bavail * stats.f_frsize > 4 * nbytes else None
        )
    except OSError:  # no /dev/shm, or not writable
        file = None
    file = file or tempfile.TemporaryFile()
    file.truncate(nbytes)
    return file, np.ndarray(shape, dtype, buffer=mmap.mmap(file.fileno(), nbytes))


def mapped_array(fd: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """The array that :func:`shared_array` made, mapped in a worker through its descriptor ``fd``."""
    return np.ndarray(shape, dtype, buffer=mmap.mmap(fd, _nbytes(shape, dtype)))


def _nbytes(shape: tuple[int, ...], dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``; at least 1, the least a file can be mapped with."""
    return max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)


def step(model: Sequential, rng, x, y, weights, predicted) -> float:
    """Forward, the cost and backward on one shard; returns the shard's mean cost."""
    out = model.forward(x, training=True, rng=rng)  # (N_s, C)
    np.argmax(out, axis=1, out=predicted)
    loss, grad = model.cost.loss_and_gradient(out, y, weights)
    model.backward(grad, input_grad=False)
    return loss


class _Worker:
    """One worker process, seen from the calling process: its shared arrays and its pipes."""

    def __init__(self, model: Sequential, params_file, seed: int, shard_inputs: int):
        dtype = model.flat_params.dtype
        self._grads_file, self.grads = shared_array(model.flat_grads.shape, dtype)  # (P,), the worker's
        self._inputs_file, self.inputs = shared_array((shard_inputs,), dtype)  # a shard's images, flat
        to_worker, from_worker = os.pipe(), os.pipe()  # (read end, write end) each
        files = (params_file.fileno(), self._grads_file.fileno(), self._inputs_file.fileno())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digitnet.nn.parallel_worker", str(to_worker[0]), str(from_worker[1])],
            pass_fds=(to_worker[0], from_worker[1], *files),
            stdin=subprocess.DEVNULL,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            },
        )
        os.close(to_worker[0])
        os.close(from_worker[1])
        self.send = Connection(to_worker[1], readable=False)
        self.receive = Connection(from_worker[0], writable=False)
        try:
            self.send.send({"config": model.config(), "dtype": dtype.str, "seed": seed, "files": files,
                            "shard_inputs": shard_inputs})  # fmt: skip
            self._answer()  # the worker is ready
        except BaseException:
            self.stop()
            raise

    def start(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> None:
        """Hand the worker its shard: images into shared memory, the rest through the pipe."""
        self.inputs[: x.size] = x.ravel()
        try:
            self.send.send((len(x), y, weights))
        except OSError:  # the worker is gone already (BrokenPipeError): the same report as in _answer
            raise self._stopped() from None

    def finish(self, predicted: np.ndarray) -> float:
        """Wait for the worker's shard; fill its predictions and return its mean cost."""
        loss, classes = self._answer()
        predicted[...] = classes
        return loss

    def _answer(self):
        try:
            kind, value = self.receive.recv()
        except (EOFError, OSError):
            raise self._stopped() from None
        if kind == "error":
            raise RuntimeError(f"a training worker failed:\n{value}")
        return value

    def _stopped(self) -> RuntimeError:
        """The error for a worker process that died (killed, out of memory), with its exit code."""
        code = self.process.wait()
        return RuntimeError(
            f"a training worker process stopped unexpectedly (exit code {code}); its error, if any, is "
            "printed above. Train with workers=1 (--workers 1) to run in one process."
        )

    def stop(self) -> None:
        try:
            self.send.send(None)
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.send.close()
        self.receive.close()
        self._grads_file.close()
        self._inputs_file.close()
