"""Where a sweep's runs train: this machine's processes, or a Dask cluster.

Both give the runner the same things: ``capacity`` (how many runs to keep going at once),
``submit(function, *args, avoid=workers)`` (a future), ``wait(futures, seconds)`` (those finished so far),
``routes`` (whether ``avoid`` can send a run elsewhere) and ``close()``. A run whose process dies fails
its future; the runner retries it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from digitnet.extras import require

__all__ = ["DaskCluster", "LocalProcesses", "SCHEDULER_VARIABLE", "available_cores"]

SCHEDULER_VARIABLE = "DIGITNET_SCHEDULER"
"""The environment variable that names a Dask scheduler when ``--scheduler`` is not given."""


def available_cores() -> int:
    """The cores this process may run on (its affinity, which a container or ``taskset`` may limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalProcesses:
    """Runs on this machine, one process per core (``processes``), each training one run at a time.

    Processes are started fresh (``spawn``), as a Dask worker would be: nothing of the parent's state
    reaches a run. If one dies, every run in flight fails with ``BrokenProcessPool``; the pool is then
    started afresh for the retries.
    """

    routes = False  # every process is alike: a run cannot be sent away from one

    def __init__(self, processes: int | None = None):
        self.capacity = processes or available_cores()
        if self.capacity < 1:
            raise ValueError(f"a sweep needs at least one process, got {processes}")
        self._pool = None

    def describe(self) -> str:
        return f"this machine, {self.capacity} process{'es' * (self.capacity > 1)}"

    def submit(self, function, *args, avoid=frozenset()) -> concurrent.futures.Future:
        """``function(*args)`` on a process of the pool; ``avoid`` (workers to keep away from) means
        nothing here: every process is started alike."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(self.capacity, mp_context=context)
        try:
            return self._pool.submit(function, *args)
        except BrokenProcessPool:  # a process died since the last submit: start afresh
            self._discard()
            return self.submit(function, *args)

    @staticmethod
    def lost(error: BaseException | None) -> bool:
        """Whether ``error`` says the run's process died (rather than its training raising)."""
        return isinstance(error, BrokenProcessPool)

    gone = "the worker processes were lost"  # what to say when the pool itself is gone

    def wait(self, futures, seconds: float) -> set:
        done, _ = concurrent.futures.wait(futures, timeout=seconds, return_when="FIRST_COMPLETED")
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            self._discard()
        return done

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def scheduler_address(text: str) -> str:
    """``tcp://host:port`` (or ``tls://``), checked before anything connects: ``host:port`` gets tcp://.

    Raises ValueError naming what is wrong: the scheme, a missing host, a port that is not 1 to 65535.
    """
    import urllib.parse

    raw = text.strip()
    address = raw if "://" in raw else f"tcp://{raw}"
    example = "give tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    try:
        parts = urllib.parse.urlsplit(address)
        port = parts.port
    except ValueError:
        raise ValueError(f"--scheduler {text!r} is not an address: {example}") from None
    if parts.scheme not in ("tcp", "tls"):
        raise ValueError(f"--scheduler {text!r}: the scheme must be tcp:// or tls://; {example}")
    if not parts.hostname or port is None or not 1 <= port <= 65535 or parts.path not in ("", "/"):
        raise ValueError(f"--scheduler {text!r} names no host and port: {example}")
    if "@" in parts.netloc or parts.query or parts.fragment or not _host(parts.hostname):
        raise ValueError(f"--scheduler {text!r}: {parts.hostname!r} is not a host name or address; {example}")
    return f"{parts.scheme}://{parts.netloc}"


def _host(name: str) -> bool:
    """Whether ``name`` is an IP address or a DNS name (letters, digits, hyphens, underscores, dots)."""
    import ipaddress
    import re

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return (
            re.fullmatch(
                r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?",
                name,
            )
            is not None
        )


def _within(seconds: float, connect, silent: str, failed: str, advice: str):
    """``connect()`` on a thread, given ``seconds`` in all: a peer that accepts the connection and never
    answers cannot hold the sweep, and an error becomes one OSError with ``advice``."""
    result: dict = {}

    def attempt():
        try:
            result["client"] = connect()
        except BaseException as exc:  # noqa: BLE001 - reported below, on the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise OSError(silent)
    if "error" in result:
        raise OSError(f"{failed} ({result['error']}). {advice}") from None
    return result["client"]


class DaskCluster:
    """Runs on the workers of a running Dask scheduler at ``address`` (``tcp://host:8786``).

    Start one with ``dask scheduler`` and, on every machine that should train, ``dask worker ADDRESS
    --nthreads 1`` per core (each worker needs digitnet installed and MNIST: see the README). If a worker
    is lost, the scheduler gives its runs to the others.
    """

    routes = True  # a run can be sent to other workers than those it failed on

    def __init__(self, address: str, *, timeout: float = 10.0, workers_timeout: float = 60.0):
        address = scheduler_address(address)  # a malformed one is refused before any connection
        distributed = require("distributed", "dask", "a sweep on a Dask cluster (--scheduler)")
        # distributed logs each failed reconnection with a traceback; the sweep says what happened instead
        self._log_levels = {}  # restored by close()
        for name in ["distributed", *logging.root.manager.loggerDict]:  # each has a level of its own
            if name == "distributed" or name.startswith("distributed."):
                self._log_levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.CRITICAL)
        advice = (
            f"Start one with `dask scheduler` and workers with `dask worker {address}`, or leave out "
            f"--scheduler (and ${SCHEDULER_VARIABLE}) to run on this machine"
        )
        self.client = _within(
            timeout + 5,
            lambda: distributed.Client(address, timeout=timeout, set_as_default=False),
            f"no Dask scheduler answered at {address} within {timeout + 5:g} s (something may listen there "
            f"that is not one). {advice}",
            f"cannot reach a Dask scheduler at {address!r}",
            advice,
        )
        self.address = address
        try:  # a scheduler without workers would hold the sweep forever
            self.client.wait_for_workers(1, timeout=workers_timeout)
        except (TimeoutError, OSError):
            self.client.close()
            raise OSError(
                f"the Dask scheduler at {address} has no workers after {workers_timeout:g} s; start some "
                f"with `dask worker {address} --nthreads 1` on the machines that should train"
            ) from None

    @property
    def capacity(self) -> int:
        threads = sum(self._workers().values())
        return max(threads, 1) * 2  # one queued behind each running run, so no worker waits

    def _workers(self) -> dict[str, int]:
        """The workers' addresses and threads; ConnectionError when the scheduler is gone."""
        try:
            return self.client.nthreads()
        except OSError:  # distributed's CommClosedError, a reset connection
            raise ConnectionError(f"the Dask scheduler at {self.address} was lost") from None

    def describe(self) -> str:
        workers = self.client.nthreads()
        return (
            f"the Dask cluster at {self.address}, {len(workers)} workers with {sum(workers.values())} threads"
        )

    def submit(self, function, *args, avoid=frozenset()):
        """``function(*args)`` on a worker of the cluster other than those in ``avoid`` (their addresses),
        while there is another; on any worker once every one is to be avoided."""
        workers = set(self._workers())
        allowed = sorted(workers - set(avoid))
        if not allowed or len(allowed) == len(workers):
            return self.client.submit(function, *args, pure=False)
        # preferred, not required: should those workers leave, the run must not wait for them forever
        return self.client.submit(function, *args, pure=False, workers=allowed, allow_other_workers=True)

    @staticmethod
    def lost(error: BaseException | None) -> bool:
        """False: the scheduler itself moves the runs of a lost worker to the others (and gives up on a
        run that kills several workers with ``KilledWorker``, which counts as one of its tries)."""
        return False

    @property
    def gone(self) -> str:
        """What to say when the cluster is lost."""
        return f"the Dask scheduler at {self.address} was lost"

    def wait(self, futures, seconds: float) -> set:
        """The futures done within ``seconds``, polled: ``distributed.wait`` would need a default client."""
        deadline = time.monotonic() + seconds
        while True:
            done = {f for f in futures if f.done()}
            if any(f.cancelled() for f in done) or self.client.status in ("closing", "closed", "failed"):
                raise ConnectionError(self.gone)
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.02)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a lost scheduler: nothing is left to close cleanly
            self.client.close(timeout=5)
        for name, level in self._log_levels.items():
            logging.getLogger(name).setLevel(level)
