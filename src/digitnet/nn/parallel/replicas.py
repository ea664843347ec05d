"""The calling process's side of data parallelism: :class:`Replicas` and its worker processes (see the
package's docstring for why and how)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from digitnet import kernels
from digitnet.checks import checked_integer
from digitnet.nn.parallel.shared_memory import shared_array
from digitnet.nn.parameters import Parameters

__all__ = ["Replicas"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder that holds digitnet, for the workers


class Replicas:
    """The model in this process plus ``workers - 1`` worker processes with copies that share its weights.

    ::

        replicas = Replicas(model, workers=2, rng=rng, batch_size=64)
        loss = replicas.train_step(x, y, weights, predicted)  # the gradient is in model.parameters.grads
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

    def __init__(self, model, workers: int, rng: np.random.Generator, batch_size: int = 1024):
        checked_integer("workers", workers)
        self.model, self.rng, self.workers, self._params_file = model, rng, [], None
        if workers == 1:
            return
        if os.name != "posix":
            raise ValueError("workers > 1 needs Linux or macOS (file descriptors passed to worker processes)")
        seeds = [int(rng.integers(2**63)) for _ in range(workers - 1)]
        own = model.parameters
        self._params_file, values = shared_array(own.values.shape, own.values.dtype)
        self._scratch = np.empty_like(own.grads)  # (P,): a worker's share of the gradient
        model.parameters = Parameters(model.layers, values)  # from now on the weights live in shared memory
        try:
            shard = -(-batch_size // workers) * int(np.prod(model.input_shape))  # ceil(B / W) inputs
            for seed in seeds:
                self.workers.append(_Worker(model, self._params_file, seed, shard))
        except BaseException:
            self.close()
            raise

    def train_step(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, predicted: np.ndarray
    ) -> float:
        """The batch's mean cost; its gradient lands in ``model.parameters.grads``: the model's
        :meth:`~digitnet.nn.model.Sequential.train_step` on each shard, the gradients weighted and added.

        Shapes: x (N, *input_shape), y (N,), weights (N,) or None; ``predicted`` (N,) receives each
        example's predicted class.
        """
        n = len(x)
        shards = min(len(self.workers) + 1, n)
        if shards == 1:  # the plain step, with nothing added: at batch 10 a step is only about 50 µs
            return self.model.train_step(x, y, example_weights=weights, rng=self.rng, predicted=predicted)
        bounds = [n * s // shards for s in range(shards + 1)]
        ranges = list(zip(bounds, bounds[1:]))  # (first, end) of shard s; shard 0 is computed here

        def cut(lo: int, hi: int) -> tuple:
            return x[lo:hi], y[lo:hi], None if weights is None else weights[lo:hi]

        busy = self.workers[: shards - 1]
        for worker, (lo, hi) in zip(busy, ranges[1:]):
            worker.start(*cut(lo, hi))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as in fit and the workers
            xs, ys, ws = cut(*ranges[0])
            losses = [
                self.model.train_step(
                    xs, ys, example_weights=ws, rng=self.rng, predicted=predicted[: bounds[1]]
                )
            ]
        for worker, (lo, hi) in zip(busy, ranges[1:]):
            losses.append(worker.finish(predicted[lo:hi]))
        total = n if weights is None else float(np.sum(weights))  # N, or W with example weights
        if not total > 0:  # no example weighs anything: no mean, and fit says so, as with one worker
            return math.nan
        shares = [
            (hi - lo if weights is None else float(np.sum(weights[lo:hi]))) / total for lo, hi in ranges
        ]
        grads = self.model.parameters.grads  # (P,): the shards' gradients, weighted and added, end up here
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

    def one_blas_thread_each(self):
        """A context for training: while W > 1 processes compute shards, each one's products run on one
        BLAS thread, on its own core (W BLAS threads on W cores would each spin against the other
        workers). Evaluation between epochs keeps the BLAS's own threads."""
        return threadpool_limits(1, user_api="blas")

    def close(self) -> None:
        """Stop the workers and give the model its weights back in its own memory."""
        for worker in self.workers:
            worker.stop()
        self.workers = []
        if self._params_file is not None:
            model = self.model  # its gradients were in its own memory all along
            own = model.parameters
            model.parameters = Parameters(model.layers, own.values.copy(), own.grads, copy=False)
            self._params_file.close()  # the mapping itself goes with the last array that views it
            self._params_file = None


class _Worker:
    """One worker process, seen from the calling process: its shared arrays and its pipes."""

    def __init__(self, model, params_file, seed: int, shard_inputs: int):
        dtype = model.parameters.values.dtype
        self._grads_file, self.grads = shared_array(model.parameters.grads.shape, dtype)  # (P,), the worker's
        self._inputs_file, self.inputs = shared_array((shard_inputs,), dtype)  # a shard's images, flat
        to_worker, from_worker = os.pipe(), os.pipe()  # (read end, write end) each
        files = (params_file.fileno(), self._grads_file.fileno(), self._inputs_file.fileno())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digitnet.nn.parallel.worker", str(to_worker[0]), str(from_worker[1])],
            pass_fds=(to_worker[0], from_worker[1], *files),
            stdin=subprocess.DEVNULL,
            env={
                **os.environ,
                **kernels.environment(),  # the workers run this process's path, decided once, here
                "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            },
        )
        os.close(to_worker[0])
        os.close(from_worker[1])
        self.send = Connection(to_worker[1], readable=False)
        self.receive = Connection(from_worker[0], writable=False)
        try:
            self.send.send(
                {
                    "config": model.config(),
                    "dtype": dtype.str,
                    "seed": seed,
                    "files": files,
                    "shard_inputs": shard_inputs,
                }
            )
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
