"""Elementwise updates of large flat arrays, in cache-sized slices.

An optimiser's update is a dozen elementwise passes over the parameters, their gradients and its state.
For 784-800-800-10 (1.3M parameters, 5 MB per array) each pass would stream every array from memory;
done slice by slice, the passes over one slice hit the CPU cache instead, and memory is read and written
about once per step. Each element's arithmetic is the same however the array is cut, so the results are
bit-identical to whole-array passes.

(Sharing the slices among threads was measured too: no faster here, since one core already nearly
saturates the memory bus, and the extra thread competes with OpenBLAS's spinning workers.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["CHUNK", "in_slices"]

CHUNK = 65_536
"""Elements per slice: 256 kB of float32 per array (measured best of 8k to 128k here)."""


def in_slices(update: Callable[..., None], arrays: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    """Call ``update(*slices)`` on matching ``CHUNK``-sized slices of the equally shaped ``arrays``.

    ``update`` must be elementwise: slice i of its outputs may depend only on slice i of its inputs.
    Arrays of at most ``CHUNK`` elements, whatever their shape, go to ``update`` whole.

    Shape: every array (P,), or any one shape shared by all.
    """
    size = arrays[0].size
    if size <= CHUNK:
        update(*arrays)  # one slice: the whole array
        return
    flat = [a.reshape(-1) for a in arrays]  # (P,) views
    for start in range(0, size, CHUNK):
        update(*(a[start : start + CHUNK] for a in flat))
