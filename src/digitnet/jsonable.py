"""Results as plain JSON: one clean-up for everything digitnet writes or prints as JSON.

NumPy's arrays and scalars are not JSON, and Python's ``json`` writes NaN and infinity as bare
``NaN``/``Infinity``, which strict parsers (browsers' ``JSON.parse``, ``jq``) refuse. Here both become
standard JSON: arrays become lists, NumPy scalars Python numbers, non-finite floats ``null``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["plain"]


def plain(value: Any) -> Any:
    """``value`` with NumPy arrays as lists, NumPy scalars as Python numbers, tuples as lists, dict keys
    that JSON cannot take as strings, and NaN or infinity as None, recursively; anything else unchanged."""
    if isinstance(value, dict):
        return {
            k if k is None or isinstance(k, (str, int, float)) else str(k): plain(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
