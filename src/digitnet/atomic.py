"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

The bytes go to a hidden temporary file beside the target, ``.<name>.<host>-<pid>.<random>.tmp``, which
replaces the target in one step once complete (``<host>`` is 6 hex digits of a hash of the machine's
name). A writer killed outright (``kill -9``, a power cut) cannot remove its temporary file, which may
hold megabytes, so every atomic write first removes the stale ones of digitnet's earlier writes in its
folder: those written on this machine whose writer's process no longer exists, and, once an hour old,
those written on another machine (a shared folder: their process cannot be probed from here) or of the
older name ``.<name>.<random>.tmp``. The temporary file of a process that is still running is never
touched, nor any file whose name does not follow the pattern.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "remove_stale_temporaries"]

# tempfile.mkstemp's random part: 8 characters from a-z, 0-9 and _.
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # every name atomic_write gives, old ones included
_WITH_PID = re.compile(r"\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>[1-9][0-9]{0,9})\.[a-z0-9_]{8}\.tmp")
# A write never takes an hour, so an older temporary file without a process id is one a crash left.
STALE_AFTER_SECONDS = 3600.0


@functools.cache
def _host_tag() -> str:
    """6 hex digits naming this machine: a process id means something only on the machine that made it."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush it to disk and rename it over ``path``.

    If the block raises, the temporary file is removed and ``path`` is left exactly as it was. Stale
    temporary files that killed writers left in the folder are removed first
    (:func:`remove_stale_temporaries`).

    Examples
    --------
    >>> with atomic_write("model.bin") as f:  # doctest: +SKIP
    ...     f.write(payload)
    """
    path = Path(path)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); give it a new file's usual mode
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` in ``folder`` whose writer was killed.

    That is ``.<name>.<host>-<pid>.<random>.tmp`` written on this machine when no process ``pid`` exists;
    and when last modified over an hour ago, the same name written on another machine, or
    ``.<name>.<random>.tmp`` (the name before the process id was added). On systems without
    POSIX signals, where a process cannot be probed, the hour applies to both. Anything else, and
    anything that cannot be examined or removed, is left alone: cleaning up never makes a write fail.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        try:
            if _is_stale(entry, now):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already (another writer cleaned it), not ours to remove, ...
            continue
    return removed


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    if not entry.name.startswith(".") or not entry.name.endswith(".tmp"):
        return False  # the cheap test first: most files of a folder are not hidden temporaries
    if _TEMPORARY.fullmatch(entry.name) is None or not entry.is_file(follow_symlinks=False):
        return False
    with_pid = _WITH_PID.fullmatch(entry.name)
    if with_pid is not None and with_pid["host"] == _host_tag() and os.name == "posix":
        return not _process_exists(int(with_pid["pid"]))
    return now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_SECONDS


def _process_exists(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 probes without sending anything; POSIX only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; a number no process can have
        return True
    return True
