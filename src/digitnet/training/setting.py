"""One training setting: how it is written as text, read back, checked against its range and explained.

:data:`digitnet.training.settings.SETTINGS` holds one :class:`Setting` per ``TrainConfig`` field; this
module says what a row is and how every front end reads a value with it.
"""

from __future__ import annotations

import math
import numbers
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.checks import checked_integer, describe_range

__all__ = ["Setting", "parameter_docs", "show_value"]


@dataclass(frozen=True)
class Setting:
    """One training setting.

    Attributes
    ----------
    name : str
        Its ``TrainConfig`` field, and its key in sweep files (``--grid NAME=...``).
    kind : str
        How its text reads: "sizes" (hidden), "stages" (conv), "int", "float", "bool", "choice".
    help : str
        What it does, for ``--help`` and the estimator's docstring.
    group : str
        Its section of ``digitnet train --help``: "network", "optimisation" or "data and output".
    metavar : str or None
        What ``--help`` calls its value.
    low, high : number or None
        The range of a number: inclusive for an "int" setting; for a "float" one, ``low`` is inclusive
        unless ``above`` and ``high`` is exclusive (``[0, 1)`` for a dropout rate). Checked by
        :meth:`check`, while the text is read and again by ``TrainConfig``.
    above : bool
        A "float" setting must be greater than ``low``, not equal to it (a learning rate).
    choices : tuple of str or None
        For a "choice" setting: the allowed values, in the order ``--help`` lists them.
    none_means : str or None
        What None means, for a setting that may be None (``none`` in text).
    flag : bool
        Whether ``digitnet train`` has a flag for it.
    estimator : bool
        Whether the scikit-learn estimator takes it as a parameter (it says ``random_state`` for the seed,
        ``validation_fraction`` for the validation split, and trains on the data it is given).
    since : str or None
        The release that added it, for settings added after 0.1: a run's key (its folder in a sweep) leaves
        such a setting out while it has its default, so runs saved by earlier releases keep their keys
        and are not trained again.
    """

    name: str
    kind: str
    help: str
    group: str = "optimisation"
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    above: bool = False
    choices: tuple[str, ...] | None = None
    none_means: str | None = None
    flag: bool = True
    estimator: bool = True
    since: str | None = None

    @property
    def option(self) -> str:
        """The command-line flag: ``--input-dropout`` for ``input_dropout``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, value: Any, where: str | None = None) -> Any:
        """The value as ``TrainConfig`` takes it, from its text form or from a JSON/TOML value, in range.

        ``where`` names the value in messages (default: the setting's name; the command line gives its
        flag): ValueError says what the setting takes and what it got, e.g. "--epochs must be an integer
        from 1 to 100000, got 'ten'".
        """
        where = where or self.name
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        if value is None or isinstance(value, str) and value.strip().lower() == "none":
            if self.kind in ("sizes", "stages"):
                return ()
            if self.none_means is None:
                raise ValueError(f"{where} must be {self.expects}, got {shown}: it cannot be none")
            return None
        try:
            return self.check(_READERS[self.kind](self, value), where)
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an integer of 400 digits
            if str(exc).startswith(where + " must be"):  # out of range: check's message says it all
                raise
            reason = f" ({exc})" if str(exc) and self.kind in ("sizes", "stages") else ""
            raise ValueError(f"{where} must be {self.expects}, got {shown}{reason}") from None

    @property
    def expects(self) -> str:
        """What the setting takes, in words, for messages."""
        if self.kind == "int":
            return describe_range(self.low, self.high)
        if self.kind == "float":
            return self.range_text
        if self.kind == "choice":
            return "one of " + ", ".join([*self.choices, *(["none"] if self.none_means else [])])
        return {
            "bool": "true or false",
            "sizes": "hidden layer sizes such as 100 or 16x16, or none for no hidden layer",
            "stages": "convolutional stages such as 6/16 or 32x32/64x64 ('/' between pooled stages), "
            "or none for an MLP",
        }[self.kind]

    def check(self, value: Any, where: str | None = None) -> Any:
        """``value`` if it lies in the setting's range (None where None means something), else ValueError
        naming ``where`` (default: the setting's name), the range and the value."""
        where = where or self.name
        if value is None and self.none_means is not None or self.kind not in ("int", "float"):
            return value
        if self.kind == "int":
            return checked_integer(where, value, self.low, self.high)
        real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        inside = real and (value > low if self.above else value >= low) and value < high  # NaN fails
        if not inside:
            raise ValueError(f"{where} must be {self.range_text}, got {value!r}")
        return float(value)

    @property
    def range_text(self) -> str:
        """The range in words: "a positive finite number", "in [0, 1)", "a finite number >= 0"."""
        if self.high is not None:
            return f"in {'(' if self.above else '['}{self.low:g}, {self.high:g})"
        if self.low == 0 and self.above:
            return "a positive finite number"
        return f"a finite number >= {self.low:g}"

    def new_spelling(self, text: Any) -> str | None:
        """For text in an old spelling, read for one more release, the one to write instead: ``16,16``
        (``digitnet train --hidden`` before 0.2) -> ``16x16``, ``32,32/64,64`` -> ``32x32/64x64``.
        None for anything else."""
        if (
            self.kind not in ("sizes", "stages")
            or not isinstance(text, str)
            or not any(c in text for c in ",-")
        ):
            return None
        try:
            return self.show(self.parse(text))
        except ValueError:
            return None

    def show(self, value: Any) -> str:
        """``value`` as this setting's text form (the inverse of :meth:`parse`)."""
        return show_value(value)


def show_value(value: Any) -> str:
    """A value as its text form: (16, 16) -> ``16x16``; ((32, 32), (64, 64)) -> ``32x32/64x64``; () and None
    -> ``none``; True/False -> ``on``/``off``; 0.001 -> ``0.001``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        if not value:
            return "none"
        if isinstance(value[0], (tuple, list)):
            return "/".join("x".join(map(str, stage)) for stage in value)
        return "x".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _sizes(text: str, what: str) -> tuple[int, ...]:
    """``"16x16"`` -> (16, 16); the old spellings ``16,16`` and ``16-16`` are read too (see
    :meth:`Setting.new_spelling`)."""
    if not text.strip():
        raise ValueError(f"an empty value; for no {what} say none")
    try:
        sizes = tuple(int(p) for p in text.replace(",", "x").replace("-", "x").split("x"))
    except ValueError:
        raise ValueError() from None  # the message says what the setting takes
    if any(s < 1 for s in sizes):
        raise ValueError("sizes must be positive")
    return sizes


def _read_sizes(row: Setting, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        return _sizes(value, "hidden layer")
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return (value,)
    return tuple(_integer(v) for v in value)


def _read_stages(row: Setting, value: Any) -> tuple[tuple[int, ...], ...]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("an empty value; for no convolution say none")
        return tuple(_sizes(stage, "convolution") for stage in value.split("/"))
    return tuple((_integer(s),) if isinstance(s, int) else tuple(_integer(f) for f in s) for s in value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):  # True is no count of anything
        raise ValueError("not a whole number")
    number = float(value) if isinstance(value, str) else value
    if isinstance(number, float):
        if not (number.is_integer() and abs(number) <= 2**53):  # 1e300 is whole, and no setting's value
            raise ValueError("not a whole number")
        number = int(number)
    if not isinstance(number, int):
        raise ValueError("not a whole number")
    return number


def _read_int(row: Setting, value: Any) -> int:
    return _integer(value)


def _read_float(row: Setting, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return float(value)


def _read_bool(row: Setting, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "on", "off"):
        raise ValueError("true or false")
    return text in ("true", "on")


def _read_choice(row: Setting, value: Any) -> str:
    allowed = row.choices
    if value not in allowed:
        raise ValueError(f"choose one of {', '.join(allowed)}")
    return value


_READERS = {
    "sizes": _read_sizes,
    "stages": _read_stages,
    "int": _read_int,
    "float": _read_float,
    "bool": _read_bool,
    "choice": _read_choice,
}


def parameter_docs(rows, defaults: Any, indent: int = 4) -> str:
    """The estimator's parameters as a numpydoc list, one entry per row of ``rows`` it takes: name,
    default (from ``defaults``, a ``TrainConfig``), range or choices, help."""
    lines, pad = [], " " * indent
    for row in rows:
        if not row.estimator:
            continue
        default = getattr(defaults, row.name)
        lines.append(f"{pad}{row.name} : {_python_kind(row)}, default {default!r}")
        extra = (
            [f"{row.expects[0].upper()}{row.expects[1:]}."] if row.kind in ("int", "float", "choice") else []
        )
        means = (row.none_means or "").removeprefix("none: ")
        extra += [f"None: {means}."] if means not in ("", "none") else []
        text = f"{row.help[0].upper()}{row.help[1:]}. " + " ".join(extra)
        lines += textwrap.wrap(text, 110, initial_indent=pad * 2, subsequent_indent=pad * 2)
    return "\n".join(lines)


def _python_kind(row: Setting) -> str:
    kind = {"sizes": "tuple of int", "stages": "tuple of tuple of int", "choice": "str"}.get(
        row.kind, row.kind
    )
    return kind + (" or None" if row.none_means is not None else "")
