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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from digitnet.errors import OutputError
from digitnet.rescue import SAVE_ERRORS, failure_reason, rescue_dir, rescue_dirs, save_or_rescue

__all__ = [
    "SAVE_ERRORS",
    "checked_output_file",
    "claimed_output_dir",
    "prepare_output_dir",
    "rescue_dir",
    "rescue_dirs",
    "save_or_rescue",
]


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
            f"{label} cannot be created ({failure_reason(exc)}); choose a folder you can write to with --out"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".digitnet-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{label} is not writable ({failure_reason(exc)}); choose a folder you can write to with --out, "
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
