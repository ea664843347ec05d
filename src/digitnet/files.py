"""Files a user names, looked at before they are opened: regular files only, no larger than their kind.

Opening a named pipe (FIFO) for reading waits until something writes to it, forever if nothing does; a
device such as ``/dev/zero`` never ends; a folder cannot be read at all. So every door that reads a file
a user named (images, model files, ONNX files, sweep files, MNIST's and the pen digits' files) first
asks :func:`file_problem` what the path is, with ``os.stat``, which never blocks, and refuses anything
but a regular file by name; :func:`read_bounded` then reads at most a limit, checked against the size
the file system reports before anything is read, and again while reading (a file may grow meanwhile).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from digitnet.errors import DigitnetError

__all__ = ["file_problem", "read_bounded"]

_KINDS = (
    (stat.S_ISDIR, "is a folder, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), which would wait for a writer forever, not a file"),
    (stat.S_ISCHR, "is a device, whose reading never ends, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def file_problem(path: str | os.PathLike) -> str | None:
    """What keeps ``path`` from being read as a file, or None for a regular file (links followed).

    Returns ``"does not exist"``, ``"cannot be looked at (reason)"``, ``"is a folder, not a file"``, ``"is a
    named pipe (FIFO) ..."``, ``"is a device ..."`` and so on: the end of a sentence that starts with the
    path. Never opens the file, so it never blocks.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return next((problem for test, problem in _KINDS if test(mode)), "is not a regular file")


def read_bounded(
    path: str | os.PathLike, *, what: str, limit: int, error: type[DigitnetError] = DigitnetError
) -> bytes:
    """The bytes of the regular file ``path``, refused with ``error`` if it is anything else or larger
    than ``limit`` bytes. ``what`` names the kind in the message ("sweep file")."""
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise error(f"{path} {problem}; give a {what}")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise error(f"{path} holds {size:,} bytes, more than a {what} may ({limit:,}); give a {what}")
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{path} cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{path} grew past {limit:,} bytes while it was read; give a {what} that stays put")
    return data
