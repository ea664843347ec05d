"""Importing an optional extra, with a message that says which one to install when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from digitnet.errors import DigitnetError

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(DigitnetError, ImportError):
    """A feature needs an optional dependency that is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``import module``, or :class:`MissingExtraError` naming the extra that provides it.

    >>> require("json", "none", "a test").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{feature} needs the {module!r} package, an optional extra: pip install 'digitnet[{extra}]'"
        ) from None
