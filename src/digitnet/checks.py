"""Argument checks shared by the whole package: one home for "is this a whole number in range?" and "does
this model read MNIST digits?".

Python's ``bool`` is an ``int`` (``True + True == 2``), so every check here refuses it: ``epochs=True`` is
a mistake, never one epoch. NumPy's integer scalars count as integers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_digit_reader", "checked_integer", "describe_range", "is_integer"]


def is_integer(value, low: int | None = None, high: int | None = None) -> bool:
    """Whether ``value`` is an integer (not a bool) with ``low <= value <= high`` (a None bound is open)."""
    return (
        isinstance(value, (int, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and (low is None or value >= low)
        and (high is None or value <= high)
    )


def checked_integer(name: str, value, low: int | None = 1, high: int | None = None) -> int:
    """``value`` as a Python int if :func:`is_integer` accepts it, else ``ValueError`` naming ``name``,
    the range and the value given: "epochs must be a positive integer, got 0"."""
    if not is_integer(value, low, high):
        raise ValueError(f"{name} must be {describe_range(low, high)}, got {value!r}")
    return int(value)


def describe_range(low: int | None, high: int | None) -> str:
    """How an error message names the integers from ``low`` to ``high``: "a positive integer", ..."""
    if high is not None and low is not None:
        return f"an integer from {low} to {high}"
    if high is not None:
        return f"an integer of at most {high}"
    return {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        low, f"an integer of at least {low}"
    )


def check_digit_reader(model, name: object) -> None:
    """``ValueError`` unless ``model`` reads MNIST-style digits: 784 pixels (or 1x28x28) in, 10 classes
    out, as MNIST's and drawn digits, the report and the server's answers need. ``name`` names it."""
    shape, classes = tuple(model.input_shape), model.n_classes
    if shape not in ((784,), (1, 28, 28)) or classes != 10:
        raise ValueError(
            f"{name} is not a digit reader: it takes inputs of shape {shape} and gives {classes} classes; "
            "reading digits needs 784 pixels (or 1x28x28) in and 10 classes out: use a model trained on "
            "MNIST"
        )
