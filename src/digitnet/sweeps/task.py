"""One run of a sweep, as a worker trains it: on this machine's processes or on a Dask worker.

The function is self-contained, so Dask can send it to a worker on another machine: it takes plain
values (a configuration as a dict, a data folder's name), finds MNIST the way the command line does,
trains through :func:`digitnet.training.runs.train` with one BLAS thread, and returns plain values (metrics,
history, the network's architecture and arrays). The process that started the sweep writes the files,
so workers need no access to the sweep folder.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from typing import Any

from threadpoolctl import threadpool_limits

from digitnet.data import MNIST, load_mnist
from digitnet.training.config import TrainConfig
from digitnet.training.runs import train

__all__ = ["RunFailed", "train_run", "worker_name"]


class RunFailed(RuntimeError):
    """A run's training raised on a worker: the error's type and message, and the worker (its Dask
    address, or ``host:pid`` on this machine's processes), so that the sweep can say where it failed and
    try the run elsewhere. Plain values only: it crosses the network pickled."""

    def __init__(self, worker: str, error: str):
        super().__init__(worker, error)
        self.worker, self.error = worker, error

    def __str__(self) -> str:
        return f"{self.error} (on {self.worker})"


def worker_name() -> str:
    """This process as the sweep names it: its Dask worker's address, else ``host:pid``."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # not on a Dask worker
        return f"{socket.gethostname()}:{os.getpid()}"


@lru_cache(maxsize=2)
def _mnist(data_dir: str | None, validation_size: int) -> MNIST:
    """MNIST for this worker, loaded once per data folder and split: ``data_dir`` if given, else this
    worker's ``$DIGITNET_DATA``, else its per-user cache (downloaded there on first use)."""
    return load_mnist(data_dir, validation_size=validation_size, progress=False)


def train_run(config: dict[str, Any], data_dir: str | None, keep_model: bool = True) -> dict[str, Any]:
    """Train the configuration ``config`` (:meth:`TrainConfig.to_dict`) and return what it gave.

    Raises :class:`RunFailed`, naming this worker, when the training raises (no MNIST here, say).

    Returns ``{"metrics", "history", "worker", "model"}``: the run's metrics (as ``digitnet train``
    records them), its per-epoch history, ``host:pid`` of the process that trained it, and, with
    ``keep_model``, ``(architecture, arrays)`` of the trained network (``Sequential.config()`` and
    ``named_state()``).
    """
    settings = TrainConfig.from_dict(config)
    try:
        with threadpool_limits(limits=1, user_api="blas"):  # one core per run: runs share the machine
            result = train(settings, _mnist(data_dir, settings.validation_size))
    except Exception as exc:  # noqa: BLE001 - any failure: said with the worker it happened on
        raise RunFailed(worker_name(), f"{type(exc).__name__}: {exc}") from None
    out = {
        "metrics": result.metrics,
        "history": result.history.to_dict(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "where": worker_name(),  # the Dask worker's address: where a retry should not go
    }
    if keep_model:
        out["model"] = (result.model.config(), result.model.named_state())
    return out
