"""The prediction threads: decoding and predicting run beside the event loop, a bounded number at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from fastapi import HTTPException

__all__ = ["MAX_WAITING", "PREDICTION_THREADS", "PredictionQueue"]

PREDICTION_THREADS = 2
"""Predictions decoded and run at once: one per core of the 2-core machines digitnet is measured on, and
at most 2 x 100 MB of memory (see MAX_IMAGE_PIXELS) however many clients post."""

MAX_WAITING = 32
"""Predictions that may wait for a thread; one more gets 503. A waiting one holds only its body (1 MB at
most), so the queue stays under 32 MB, and 32 is twice the clients of ``benchmarks/load_api.py``."""


class PredictionQueue:
    """Runs predictions on at most ``threads`` threads of their own, with at most ``waiting`` in line.

    One more is refused with 503 and ``Retry-After`` rather than queued: each running prediction may hold
    100 MB, so the server's memory stays bounded however many clients post at once. Used on the event
    loop only, so the count needs no lock.

    Parameters
    ----------
    threads : int
        Predictions run at once (an ``anyio.CapacityLimiter``, apart from the thread pool the rest of
        the app uses).
    waiting : int
        Predictions that may wait for a thread.
    """

    def __init__(self, threads: int = PREDICTION_THREADS, waiting: int = MAX_WAITING):
        if threads < 1 or waiting < 0:
            raise ValueError(f"need threads >= 1 and waiting >= 0, got threads={threads}, waiting={waiting}")
        self.limiter, self.most = anyio.CapacityLimiter(threads), threads + waiting
        self.admitted = 0  # running or waiting

    @property
    def waiting(self) -> int:
        """Predictions admitted that wait for a thread."""
        return self.admitted - int(self.limiter.borrowed_tokens)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` on one of the threads; HTTPException 503 if the line is full."""
        if self.admitted >= self.most:
            raise HTTPException(
                503,
                f"the server is busy: {self.most} predictions are running or waiting; try again in a second",
                headers={"Retry-After": "1"},
            )
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        finally:
            self.admitted -= 1
