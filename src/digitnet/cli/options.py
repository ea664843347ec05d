"""What every command's options share: the parser, its help layout, and value checks that name the flag.

A bad value is refused while the command line is read, before any work starts, with a message that
names the flag and the allowed values, e.g. ``--seed must be a non-negative integer, got -1``. The help
of every option ends with its real default: the value an option falls back to, or, for ``digitnet
train``, where the preset decides, the default preset's value (``action.shown_default``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digitnet.checks import checked_integer, describe_range
from digitnet.cli.output import printable
from digitnet.data.folders import missing_mnist_files
from digitnet.errors import DataError
from digitnet.training.setting import Setting, show_value

__all__ = [
    "Parser",
    "add_data_option",
    "add_setting_flag",
    "data_folder",
    "integer",
    "output_folder",
    "setting_value",
]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Ends each option's help with ``(default: X)``, X from ``action.shown_default`` or ``action.default``.

    Nothing is added to an option whose help already speaks of its default, to an on/off flag whose
    default is off, or where the default is None (the help then says what happens instead). An argument
    whose action has ``takes_one = True`` shows as one value, e.g. ``MODEL``, not ``MODEL [MODEL ...]``.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS:
            return text
        if hasattr(action, "shown_default"):
            shown = action.shown_default
        elif action.default is None or (action.nargs == 0 and action.default is False):
            return text
        else:
            shown = show_value(action.default)
        return f"{text} (default: {str(shown).replace('%', '%%')})"  # help text is %-formatted

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if getattr(action, "takes_one", False):  # nargs="+" only to refuse several values clearly
            return self._metavar_formatter(action, default_metavar)(1)[0]
        return super()._format_args(action, default_metavar)


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with :class:`DefaultsHelpFormatter`, for ``digitnet`` and its commands.

    Its errors drop argparse's ``argument --seed:`` prefix when the message names the flag itself.
    """

    def __init__(self, *args: Any, formatter_class=DefaultsHelpFormatter, **kwargs: Any):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument "):
            flags = head.removeprefix("argument ").split("/")
            if any(rest.startswith(flag + " ") for flag in flags):
                message = rest
        super().error(printable(message, lines=True))


def integer(flag: str, low: int = 0, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer from ``low`` to ``high`` that names the flag when it refuses one.

    Parameters
    ----------
    flag : str
        The option as the user types it, e.g. ``"--seed"``.
    low, high : int, optional
        Smallest and largest allowed value; ``high=None``: no upper limit.

    Examples
    --------
    >>> integer("--seed")("-1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: --seed must be a non-negative integer, got -1
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} must be {describe_range(low, high)}, got {text!r}"
            ) from None
        try:
            return checked_integer(flag, value, low, high)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = flag.lstrip("-").replace("-", "_")  # what argparse calls the type in its messages
    return parse


def unit_interval(flag: str) -> Callable[[str], float]:
    """An argparse ``type`` for a number from 0 to 1 that names the flag when it refuses one (NaN too).

    Examples
    --------
    >>> unit_interval("--min-confidence")("1.5")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: --min-confidence must be a number from 0 to 1, got '1.5'
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value <= 1:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{flag} must be a number from 0 to 1, got {text!r}")
        return value

    parse.__name__ = flag.lstrip("-").replace("-", "_")
    return parse


def add_data_option(parser) -> None:
    """Add ``--data DIR`` to ``parser`` (a parser or an argument group), as every command that reads MNIST
    takes it: checked to hold the four files."""
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=data_folder(),
        help="folder holding the four MNIST files (default: $DIGITNET_DATA if set, else the per-user cache)",
    )


def output_folder(text: str) -> str:
    """``--out DIR``: a folder name, never empty (an empty one would mean the current folder, unasked)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "--out must name a folder, got an empty value; leave --out out for the default folder"
        )
    return text


def data_folder(require_files: bool = True) -> Callable[[str], str]:
    """An argparse ``type`` for ``--data DIR``: the folder must exist and, by default, hold the MNIST files.

    A folder named with ``--data`` is the only one used: digitnet never falls back from it to
    ``$DIGITNET_DATA`` or the cache, and never creates it.
    """

    def parse(text: str) -> str:
        try:
            missing_mnist_files(Path(text).expanduser(), "--data", required=require_files)
        except DataError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    parse.__name__ = "data"
    return parse


def setting_value(row: Setting) -> Callable[[str], Any]:
    """An argparse ``type`` for a training setting's flag: its text form, read by the settings table
    (:mod:`digitnet.training.settings`), refused with a message that names the flag. An old spelling
    (``--hidden 16,16``) is read, with a note on stderr naming the one to write."""

    def parse(text: str) -> Any:
        try:
            value = row.parse(text, where=row.option)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value is None:  # "none", where None means something: said, so that it is not "flag not given"
            return "none"
        new = row.new_spelling(text)
        if new is not None:
            print(
                printable(
                    f"digitnet: note: {row.option} {text} is the old spelling, read until digitnet 0.3; "
                    f"write {row.option} {new}, as sweep files and --grid do"
                ),
                file=sys.stderr,
            )
        return value

    parse.__name__ = row.name
    return parse


def add_setting_flag(group, row: Setting) -> None:
    """``row``'s flag in ``group`` (a parser or an argument group): an on/off pair for a yes-or-no
    setting, a choice among the row's values (``none`` too where None means something), or a value read
    by :func:`setting_value`. Its default stays None, so only the flags given change a configuration."""
    if row.kind == "bool":
        group.add_argument(
            row.option, dest=row.name, action=argparse.BooleanOptionalAction, default=None, help=row.help
        )
    elif row.kind == "choice":
        choices = [*row.choices, *(["none"] if row.none_means is not None else [])]
        group.add_argument(row.option, dest=row.name, choices=choices, help=row.help)
    else:
        group.add_argument(
            row.option, dest=row.name, type=setting_value(row), metavar=row.metavar, help=row.help
        )
