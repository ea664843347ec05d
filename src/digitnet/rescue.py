"""Rescue folders: where finished work goes when the folder chosen for it cannot take it.

When a final save fails (the disk filled up, the folder was removed meanwhile), :func:`save_or_rescue`
writes the result into a fresh folder under the per-user cache (or, failing that, the system temporary
folder) and hands back an error that names both, for the caller to raise once the result is shown:
finished work is never thrown away. ``train``, ``report``, ``experiment`` and ``sweep`` (each run as it
finishes) use it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import platformdirs

from digitnet.errors import DigitnetError, ModelFileError, OutputError

__all__ = ["SAVE_ERRORS", "failure_reason", "rescue_dir", "rescue_dirs", "save_or_rescue"]

T = TypeVar("T")

SAVE_ERRORS = (OSError, OutputError, ModelFileError)
"""What a failed write raises: the operating system's error, or digitnet's for an output or model file."""


def rescue_dirs(command: str) -> Iterator[Path]:
    """Fresh folders to save into when the chosen one fails: in the per-user cache, then the temporary folder.

    Each is created only when asked for; a place where no folder can be created is skipped.
    """
    prefix = f"digitnet-{command}-{datetime.now():%Y%m%d-%H%M%S}-"
    for parent in (platformdirs.user_cache_path("digitnet") / "rescued", Path(tempfile.gettempdir())):
        try:
            parent.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        except OSError:
            continue
        yield folder


def rescue_dir(command: str) -> Path:
    """The first folder :func:`rescue_dirs` can create; OutputError if there is none."""
    for folder in rescue_dirs(command):
        return folder
    raise OutputError(
        f"no rescue folder could be created under {platformdirs.user_cache_path('digitnet')} or "
        f"{tempfile.gettempdir()}; free some disk space and run again"
    )


def save_or_rescue(
    save: Callable[[Path], T],
    folder: Path,
    command: str,
    what: str,
    errors: tuple[type[BaseException], ...] = SAVE_ERRORS,
) -> tuple[T, Path, OutputError | None]:
    """Call ``save(folder)``; if that fails, call ``save`` on rescue folders until one works.

    Parameters
    ----------
    save : callable
        Writes the result into the folder it is given and returns what the caller needs.
    folder : pathlib.Path
        Where the result should go.
    command : str
        The command's name, which starts a rescue folder's name.
    what : str
        What is saved, for the message, e.g. ``"the model and its metrics"``.
    errors : tuple of exception types, optional
        What a failed write raises; default :data:`SAVE_ERRORS`. Anything else propagates at once.

    Returns
    -------
    (result, folder, error)
        ``save``'s result, the folder it was saved in, and None, or, after a rescue, the
        :class:`OutputError` to raise once the result has been shown: it names both folders.

    Raises
    ------
    OutputError
        If no folder could take the result; the message lists every failure.
    """
    try:
        return save(folder), folder, None
    except errors as exc:
        failures = [f"{folder} ({failure_reason(exc)})"]
    for rescue in rescue_dirs(command):
        try:
            result = save(rescue)
        except errors as exc:
            failures.append(f"{rescue} ({failure_reason(exc)})")
            continue
        return (
            result,
            rescue,
            OutputError(
                f"could not save {what} in {failures[0]}; the files are in {rescue} instead: "
                "move them where you want them"
            ),
        )
    raise OutputError(f"could not save {what} anywhere; tried " + ", ".join(failures))


def failure_reason(exc: BaseException) -> str:
    """Why a write failed, in words: the OS's reason, digitnet's message, or the exception's type and text."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) if isinstance(exc, DigitnetError) else f"{type(exc).__name__}: {exc}"
