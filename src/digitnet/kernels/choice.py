"""Which path runs the hot passes, chosen once per process: the compiled kernels, or the NumPy layers.

``DIGITNET_KERNELS`` decides: ``native`` (the default) builds or loads the kernels on first use, and
falls back to the NumPy path with one note on stderr when they cannot be built here (no C compiler, a
system without POSIX file locks) unless ``native`` was asked for explicitly, which then fails with
KernelsError; ``numpy`` never touches the kernels. A library that loads badly (a damaged file, a stale
build) is compiled once more before anything is given up.

The worker processes of ``fit(..., workers=W)`` inherit this process's choice through the environment
(:func:`environment`), so they never build, note or decide anything differently.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from digitnet.errors import KernelsError
from digitnet.kernels.build import BuildError, built_library
from digitnet.kernels.library import NativeKernels

__all__ = ["PATHS", "description", "environment", "for_arrays", "native", "path_name"]

PATHS = ("native", "numpy")

_lock = threading.Lock()
_chosen: tuple[NativeKernels | None, str] | None = None  # (kernels or None, why), once decided


def _requested() -> tuple[str, bool]:
    """(the path asked for, whether it was asked for explicitly)."""
    value = os.environ.get("DIGITNET_KERNELS", "").strip().lower()
    if not value:
        return "native", False
    if value not in PATHS:
        raise KernelsError(
            f"DIGITNET_KERNELS={os.environ['DIGITNET_KERNELS']!r} names no path; "
            "set it to native (compiled kernels, the default) or numpy (the NumPy layers only)"
        )
    return value, True


def _load() -> NativeKernels:
    """Build (if needed) and load the kernels; a library that does not load is rebuilt once.

    ``DIGITNET_KERNELS_LIBRARY`` names a built library to load as it is (what a training's worker
    processes get from the process that started them): nothing is built or compiled then.
    """
    given = os.environ.get("DIGITNET_KERNELS_LIBRARY", "").strip()
    if given:
        return NativeKernels(Path(given))
    if not hasattr(os, "fork") or sys.platform == "win32":
        raise BuildError("the compiled kernels are built on Linux and macOS only", advice="")
    path = built_library()
    try:
        return NativeKernels(path)
    except OSError:
        return NativeKernels(built_library(rebuild=True))  # a damaged or stale file: build it again


def _decide() -> tuple[NativeKernels | None, str]:
    wanted, explicit = _requested()
    if wanted == "numpy":
        return None, "DIGITNET_KERNELS=numpy"
    try:
        kernels = _load()
    except (BuildError, OSError) as exc:
        why = str(exc)
        advice = getattr(exc, "advice", "check that the file is a library built by this digitnet")
        if explicit:
            raise KernelsError(
                f"DIGITNET_KERNELS=native, but the compiled kernels cannot be used here: {why}. "
                + (
                    f"To use them, {advice}; or set DIGITNET_KERNELS=numpy"
                    if advice
                    else "Set DIGITNET_KERNELS=numpy"
                )
            ) from None
        print(
            f"digitnet: note: the NumPy path runs, as fast as ever for MLPs but slower for convolutional "
            f"networks: the compiled kernels cannot be built here ({why}); "
            + (f"to use them, {advice}; " if advice else "")
            + "set DIGITNET_KERNELS=numpy to silence this note",
            file=sys.stderr,
        )
        return None, why
    return kernels, str(kernels.path)


def native() -> NativeKernels | None:
    """The compiled kernels, or None on the NumPy path; decided on the first call of the process."""
    global _chosen
    if _chosen is None:
        with _lock:
            if _chosen is None:
                _chosen = _decide()
    return _chosen[0]


def for_arrays(*arrays: np.ndarray) -> NativeKernels | None:
    """The kernels if this process uses them and ``arrays`` share one dtype that they have (float32,
    float64), else None: a kernel reads and writes every array as that one type."""
    kernels = native()
    if kernels is None or not NativeKernels.supports(arrays[0].dtype):
        return None
    if any(a.dtype != arrays[0].dtype for a in arrays[1:]):
        return None
    return kernels


def path_name() -> str:
    """ "native" or "numpy": the path this process runs (deciding it if not yet decided)."""
    return "numpy" if native() is None else "native"


def description() -> str:
    """One line for ``digitnet info`` and the start of ``digitnet train``."""
    kernels = native()
    if kernels is None:
        return f"NumPy layers only ({_chosen[1]})"
    return f"compiled kernels beside the NumPy layers ({kernels.path.name}, one thread each)"


def environment() -> dict[str, str]:
    """What a worker process's environment needs to run this process's path without deciding again: the
    path, and for the kernels the very library this process loaded (no compiler needed there)."""
    kernels = native()
    if kernels is None:
        return {"DIGITNET_KERNELS": "numpy"}
    return {"DIGITNET_KERNELS": "native", "DIGITNET_KERNELS_LIBRARY": str(kernels.path)}


def _forget() -> None:
    """Decide again on the next call (tests that change the environment)."""
    global _chosen
    _chosen = None
