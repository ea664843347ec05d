"""Drawn digits to measure and calibrate on, by name: people's pen digits, or a program's sketches.

``pendigits``: the 2,498 digits of the 10 validation writers of UCI's pen digits (writers 21 to 30,
:mod:`digitnet.data.pendigits`), drawn with the page's pen; people's handwriting, downloaded on first use.
``sketches``: 680 digits drawn by :mod:`digitnet.imaging.sketches` in every style (40 writers per
style), available offline; a check of the styles, easier than people.
"""

from __future__ import annotations

import numpy as np

from digitnet.data.pendigits import load_pendigits, pendigits_inputs
from digitnet.imaging.sketches import sketch_inputs

__all__ = ["DRAWN_SETS", "SKETCH_SEED", "drawn_digits"]

DRAWN_SETS = ("pendigits", "sketches")
"""The names :func:`drawn_digits` knows, the default first."""

SKETCH_SEED = 2026
"""The writers of the ``sketches`` set; tests and the report draw theirs with other seeds."""

SKETCHES_PER_STYLE = 40


def drawn_digits(name: str, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """The inputs, labels and a one-line description of the drawn set ``name``.

    Shape: -> x (N, 784) float32, y (N,) int64.

    Raises
    ------
    ValueError
        For an unknown name.
    DataError
        When the pen digits are not on this machine and cannot be downloaded (the message says what to do).
    """
    if name == "pendigits":
        digits = load_pendigits(progress=progress).split("validation")
        x = pendigits_inputs(digits, progress=progress)
        return x, digits.labels, f"{len(digits):,} pen digits of 10 writers (UCI pen digits, writers 21-30)"
    if name == "sketches":
        x, y, _ = sketch_inputs(SKETCHES_PER_STYLE, np.random.default_rng(SKETCH_SEED))
        return x, y, f"{len(y):,} digits drawn by a program in every style (digitnet.imaging.sketches)"
    raise ValueError(f"unknown drawn digits {name!r}; choose one of {', '.join(DRAWN_SETS)}")
