"""The records beside a model's weights, checked for type and range before anything reads them.

A model file's digitnet header holds, besides the architecture, what :func:`digitnet.modelfile.save_model`
was given to keep: the training settings, the history of every epoch and the final scores. ``digitnet
info``, ``digitnet train --config``, the report and the API's ``/api/models`` read them as the writers
wrote them, so :func:`check_records` refuses anything else with a message naming the field::

    digitnet_version, created, sha256   strings
    training   {setting: value}: each TrainConfig field of its annotated type (``hidden`` a list of
               integers, ``lr`` a number, ``init`` a string or null, ...); other settings JSON scalars
               or lists of them
    history    {"epochs": [{"epoch": int >= 1, "loss": number, ...}, ...],   every epoch with the same keys
                "best_epoch": int >= 1 or null, "stopped_early": bool}       other keys: scalars or lists
    metrics    {name: number, string, bool or null}; scores (``*_accuracy``, ``*_loss``) and counts
               finite numbers, ``architecture`` and ``preset`` strings; ``temperature`` > 0 and
               ``min_confidence`` in [0, 1] (written by ``digitnet calibrate``)

Numbers must be finite everywhere: a NaN accuracy cannot be shown or sent as JSON.
"""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Any

from digitnet.checks import is_integer
from digitnet.errors import ModelFileError
from digitnet.modelfile.container import ADVICE, short
from digitnet.training.config import TrainConfig

__all__ = ["check_records"]


# The figures each epoch of History records (training.fit), which `digitnet info` and the report show.
_EPOCH_FIGURES = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
# Metrics that `digitnet info` and /api/models format as numbers, besides every *_accuracy and *_loss.
_NUMERIC_METRICS = (
    "parameters",
    "epochs_trained",
    "train_examples",
    "train_seconds",
    "calibration_examples",
    "temperature",
    "min_confidence",
)
_TEXT_METRICS = ("architecture", "preset")


class _Invalid(ValueError):
    """A field that is not what the writers write: ``field`` names it, the message says why."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")


def check_records(path: Path, header: dict[str, Any]) -> None:
    """Refuse a header whose strings, ``training``, ``history`` or ``metrics`` are not as written.

    Each of them may be absent (files from before a field existed); ``load_model`` then gives ``""``
    or ``{}``. ``format``, ``format_version`` and ``architecture`` are checked elsewhere.

    Raises
    ------
    ModelFileError
        Naming the file and the field, e.g. ``history.epochs[3].loss``.
    """
    try:
        for key in ("digitnet_version", "created", "sha256"):
            if key in header and not isinstance(header[key], str):
                raise _Invalid(key, f"must be a string, got {_json_type(header[key])}")
        if "training" in header:
            _check_training(_object("training", header["training"]))
        if "history" in header:
            _check_history(_object("history", header["history"]))
        if "metrics" in header:
            _check_metrics(_object("metrics", header["metrics"]))
    except _Invalid as exc:
        raise ModelFileError(f"{path}: the header's {exc}; {ADVICE}") from None


def _check_training(training: dict[str, Any]) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for key, value in training.items():
        where = f"training.{_short_key(key)}"
        if key in hints:
            if not _fits(value, hints[key]):
                raise _Invalid(where, f"is {short(value)}, but the setting takes {_describe(hints[key])}")
        elif isinstance(value, list):  # a list of scalars, or of lists of scalars, like conv
            for item in value:
                for x in item if isinstance(item, list) else [item]:
                    _scalar(where, x)
        else:
            _scalar(where, value)


def _check_history(history: dict[str, Any]) -> None:
    for key, value in history.items():
        if key == "epochs":
            _check_epochs(value)
        elif key == "best_epoch":
            if value is not None and not is_integer(value, 1):
                raise _Invalid(
                    "history.best_epoch", f"must be an epoch number >= 1 or null, got {short(value)}"
                )
        elif key == "stopped_early":
            if not isinstance(value, bool):
                raise _Invalid("history.stopped_early", f"must be true or false, got {short(value)}")
        elif isinstance(value, list):
            for item in value:
                _scalar(f"history.{_short_key(key)}", item)
        else:
            _scalar(f"history.{_short_key(key)}", value)


def _check_epochs(epochs: Any) -> None:
    if not isinstance(epochs, list):
        raise _Invalid("history.epochs", f"must be a list of one object per epoch, got {_json_type(epochs)}")
    keys = None
    for i, epoch in enumerate(epochs):
        where = f"history.epochs[{i}]"
        if not isinstance(epoch, dict):
            raise _Invalid(where, f"must be an object of the epoch's figures, got {_json_type(epoch)}")
        if keys is None:
            keys = set(epoch)
        elif set(epoch) != keys:
            raise _Invalid(
                where, "records other figures than history.epochs[0]; every epoch records the same"
            )
        if not is_integer(epoch.get("epoch"), 1):
            raise _Invalid(
                f"{where}.epoch", f"must be the epoch's number, from 1, got {short(epoch.get('epoch'))}"
            )
        for key, value in epoch.items():
            if value is None and key not in _EPOCH_FIGURES:
                continue
            if not _number(value):
                raise _Invalid(f"{where}.{_short_key(key)}", f"must be a finite number, got {short(value)}")


def _check_metrics(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        where = f"metrics.{_short_key(key)}"
        if key in _NUMERIC_METRICS or key.endswith(("accuracy", "loss")):
            if not _number(value):
                raise _Invalid(where, f"must be a finite number, got {short(value)}")
            if key.endswith("accuracy") and not 0 <= value <= 1:
                raise _Invalid(where, f"must be a share from 0 to 1, got {short(value)}")
            if key in _NUMERIC_METRICS and value < 0:
                raise _Invalid(where, f"must be >= 0, got {short(value)}")
            if key == "temperature" and not value > 0:
                raise _Invalid(where, f"must be > 0 (it divides the scores), got {short(value)}")
            if key == "min_confidence" and not value <= 1:
                raise _Invalid(where, f"must be a confidence from 0 to 1, got {short(value)}")
        elif key in _TEXT_METRICS:
            if not isinstance(value, str):
                raise _Invalid(where, f"must be a string, got {_json_type(value)}")
        else:
            _scalar(where, value)


def _object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(field, f"must be a JSON object, got {_json_type(value)}")
    return value


def _scalar(where: str, value: Any) -> None:
    """A JSON scalar: a string, true/false, null or a finite number."""
    if not (value is None or isinstance(value, (str, bool)) or _number(value)):
        raise _Invalid(where, f"must be a finite number, a string, true/false or null, got {short(value)}")


LARGEST_INT = 2**53
"""Integers beyond ±2^53 are not numbers a digitnet writer produces, and some (10^400) overflow a float."""


def _number(value: Any) -> bool:
    """A finite float, or an int within ±2^53 (so that it converts to a float exactly); not a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -LARGEST_INT <= value <= LARGEST_INT
    return isinstance(value, float) and math.isfinite(value)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a TrainConfig annotation (``int``, ``str | None``, ``tuple[int, ...]``).

    A JSON list stands for a tuple, an int for a float. An annotation this does not know passes: the
    settings are checked again, for range too, when ``TrainConfig`` is built from them.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return is_integer(value)
    if hint is float:
        return _number(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    return True


def _describe(hint: Any, plural: bool = False) -> str:
    """An annotation in the words of JSON: ``tuple[int, ...]`` -> "a list of integers"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg, plural) for arg in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return ("lists of " if plural else "a list of ") + _describe(args[0], plural=True)
    names = {
        type(None): ("null", "nulls"),
        bool: ("true or false", "booleans"),
        int: ("an integer", "integers"),
        float: ("a number", "numbers"),
        str: ("a string", "strings"),
    }
    return names[hint][plural] if hint in names else str(hint)


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short_key(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."
