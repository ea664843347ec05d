"""``GET /api/random-digit``: a digit of the MNIST test set, for the page's "random digit" button.

The test split is read once, on the first request, by the data package's checked reader
(:func:`digitnet.data.load_mnist_test`): the same folder rules and the same checks of the files as
``digitnet train``, and never a download from a server.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException

from digitnet.data import Split, load_mnist_test
from digitnet.errors import DataError
from digitnet.serve.prediction import rounded
from digitnet.serve.schema import Error

__all__ = ["test_set_router"]


def test_set_router(data_dir: str | None = None) -> APIRouter:
    """The route, with the test split it reads on first use from ``data_dir`` (None: as ``load_mnist``
    finds MNIST)."""
    router = APIRouter()
    loaded: list[Split] = []  # the test split once read: empty, or the one split
    lock = threading.Lock()  # two first requests read it once

    def test_split() -> Split:
        with lock:
            if not loaded:
                try:
                    loaded.append(load_mnist_test(data_dir))
                except DataError as exc:  # no folder, missing or damaged files: say which and what to do
                    raise HTTPException(404, f"no usable MNIST test set on this machine: {exc}") from None
            return loaded[0]

    @router.get(
        "/api/random-digit",
        responses={
            404: {"model": Error, "description": "no MNIST test set on this machine"},
            422: {"model": Error, "description": "index out of range"},
        },
    )
    def random_digit(index: int | None = None) -> dict[str, Any]:
        """A digit from the MNIST test set (random, or ``index``), if the dataset is on this machine."""
        split = test_split()
        count = len(split.y)
        if index is None:
            index = int(np.random.default_rng().integers(count))
        if not 0 <= index < count:
            raise HTTPException(422, f"index must be 0 to {count - 1}, got {index}")
        pixels = split.x[index].reshape(28, 28)  # float32 in [0, 1]
        return {"index": index, "label": int(split.y[index]), "pixels": rounded(pixels)}

    return router
