"""Arrays in memory that two processes map: the weights, a worker's gradient, a shard's images."""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np

__all__ = ["mapped_array", "shared_array"]


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
