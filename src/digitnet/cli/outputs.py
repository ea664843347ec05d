"""Output folders: proven writable before any work starts, and a rescue folder if saving fails at the end.

``train``, ``report`` and ``experiment`` call :func:`prepare_output_dir` first, so a ``--out`` that names a
file, sits under a file or cannot be written is refused in a second, not after an hour of training. If the
final save still fails (the disk filled up, the folder was removed meanwhile), :func:`save_or_rescue`
writes the result into a fresh folder under the per-user cache (or, failing that, the system temporary
folder), says where, and the command exits non-zero: finished work is never thrown away.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import platformdirs

from digitnet.errors import DigitnetError, ModelFileError, OutputError

__all__ = [
    "SAVE_ERRORS",
    "checked_output_file",
    "claimed_output_dir",
    "prepare_output_dir",
    "rescue_dir",
    "rescue_dirs",
    "save_or_rescue",
]

T = TypeVar("T")

SAVE_ERRORS = (OSError, OutputError, ModelFileError)
"""What a failed write raises: the operating system's error, or digitnet's for an output or model file."""


@contextmanager
def claimed_output_dir(folder: str | os.PathLike, label: str | None = None) -> Iterator[Path]:
    """:func:`prepare_output_dir` for the length of a command: if the command fails (an error, Ctrl-C)
    and the folder is one it created and left empty, the folder is removed, so a failed run leaves no
    empty ``runs/...`` behind. A folder that existed before, or holds anything, is never touched."""
    folder = Path(folder)
    existed = folder.exists()
    prepare_output_dir(folder, label)
    try:
        yield folder
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):  # not empty (something was saved), or gone: leave it
                folder.rmdir()
        raise


def prepare_output_dir(folder: str | os.PathLike, label: str | None = None) -> Path:
    """Create ``folder`` if needed and prove it writable by creating and removing a probe file in it.

    Parameters
    ----------
    folder : str or path-like
        The output folder.
    label : str, optional
        How messages name it; default ``"--out FOLDER"``.

    Returns
    -------
    pathlib.Path
        ``folder``, which now exists and takes new files.

    Raises
    ------
    OutputError
        If ``folder`` names a file, lies under a file, cannot be created, or does not take new files;
        the message says which and what to do.
    """
    folder = Path(folder)
    label = label or f"--out {folder}"
    blocker = _file_in_the_way(folder)
    if blocker == folder:
        raise OutputError(
            f"{label} names a file, not a folder; give --out a folder (it is created if needed)"
        )
    if blocker is not None:
        raise OutputError(
            f"{label} cannot be created: {blocker} is a file, not a folder; give --out a path that is not "
            "under a file"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{label} cannot be created ({_reason(exc)}); choose a folder you can write to with --out"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".digitnet-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{label} is not writable ({_reason(exc)}); choose a folder you can write to with --out, "
            "or make this one writable"
        ) from None
    return folder


def _file_in_the_way(folder: Path) -> Path | None:
    """The first existing path on the way to ``folder`` (itself included) that is not a folder, if any."""
    for path in (folder, *folder.parents):
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # not there yet: look further up
        except OSError:
            return None  # cannot tell; creating the folder will say what is wrong
        return None if stat.S_ISDIR(mode) else path
    return None


def checked_output_file(path: Path, *, overwrite: bool, name: str) -> Path:
    """``--out FILE`` for a command that writes one file: refused if it is a folder (the message suggests
    ``name`` inside it) or already exists without ``--overwrite``. Returns ``path``."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give --out a file name, e.g. {path / name}")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; choose another --out or pass --overwrite")
    return path


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
        failures = [f"{folder} ({_reason(exc)})"]
    for rescue in rescue_dirs(command):
        try:
            result = save(rescue)
        except errors as exc:
            failures.append(f"{rescue} ({_reason(exc)})")
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) if isinstance(exc, DigitnetError) else f"{type(exc).__name__}: {exc}"
