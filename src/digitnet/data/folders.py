"""Which folder MNIST is read from, and whether it holds the four files; messages that say what to do.

The files are read from one folder (:func:`mnist_sources`): the folder you name, else
``$DIGITNET_DATA``, else the per-user cache. A folder you name must exist and hold the four files: it is
never created, never downloaded into, and never passed over for the next one, so a typo is an error.
Only the per-user cache is created and filled by a download (:func:`~digitnet.data.load_mnist`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from digitnet.data.download import MNIST_FILES
from digitnet.errors import DataError

__all__ = ["find_mnist_dir", "missing_mnist_files", "mnist_search_path", "mnist_sources"]


def mnist_sources(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """The folders MNIST may be read from, in priority order, each with what names it.

    Only the first is used (see :func:`find_mnist_dir`); the others are listed so that
    ``digitnet data`` can show what a folder given first overrides.

    Parameters
    ----------
    data_dir : str or path-like, optional
        A folder named by the caller.

    Returns
    -------
    list of (str, pathlib.Path)
        ``("data_dir", data_dir)`` if given, then ``("DIGITNET_DATA", $DIGITNET_DATA)`` if that is set,
        then ``("cache", platformdirs.user_cache_path("digitnet") / "mnist")``; a folder named twice
        is listed once, under its first name.
    """
    candidates = []
    if data_dir is not None:
        candidates.append(("data_dir", Path(data_dir).expanduser()))
    if os.environ.get("DIGITNET_DATA"):
        candidates.append(("DIGITNET_DATA", Path(os.environ["DIGITNET_DATA"]).expanduser()))
    candidates.append(("cache", platformdirs.user_cache_path("digitnet") / "mnist"))
    first: dict[Path, str] = {}
    for source, folder in candidates:
        first.setdefault(folder, source)
    return [(source, folder) for folder, source in first.items()]


def mnist_search_path(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders of :func:`mnist_sources`, in priority order; only the first one is used.

    Parameters
    ----------
    data_dir : str or path-like, optional
        A folder named by the caller; it comes first.

    Returns
    -------
    list of pathlib.Path
        ``data_dir`` if given, then ``$DIGITNET_DATA`` if set, then the per-user cache folder
        ``platformdirs.user_cache_path("digitnet") / "mnist"``, without repeats.
    """
    return [folder for _, folder in mnist_sources(data_dir)]


def missing_mnist_files(
    folder: str | os.PathLike[str], source: str = "data_dir", *, required: bool = False
) -> list[str]:
    """The MNIST files that ``folder`` lacks, after checking that it is a folder that can be searched.

    Only the presence of the files is checked here; :func:`load_mnist` checks their content.

    Parameters
    ----------
    folder : str or path-like
        The folder to check.
    source : str, optional
        What named the folder, so that a message can say what to change: ``"data_dir"`` (the
        default), ``"--data"``, ``"DIGITNET_DATA"`` or ``"cache"`` (the per-user cache).
    required : bool, optional
        Raise DataError if any file is missing, instead of returning its name. Default False.

    Returns
    -------
    list of str
        Names from :data:`~digitnet.data.download.MNIST_FILES` that are not files in ``folder``, in
        that order; all four if the cache folder does not exist yet.

    Raises
    ------
    DataError
        If ``folder`` does not exist (except the cache, which a download creates), is not a folder, or
        cannot be searched (permission denied or another operating-system error); with ``required``,
        also if files are missing. The message names ``source`` and says what to do.
    """
    folder = Path(folder)
    subject = f"the per-user cache {folder}" if source == "cache" else f"{source} names {folder}, which"
    try:
        mode = os.stat(folder).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if source != "cache":
            raise DataError(f"{subject} does not exist; {_HINTS.get(source, _HINTS['data_dir'])}") from None
        mode = None  # the cache is created by the first download
    except OSError as exc:
        raise DataError(f"{subject} cannot be searched ({_reason(exc)}); {_SEARCH_HINT}") from None
    if mode is not None and not stat.S_ISDIR(mode):
        raise DataError(f"{subject} is a file, not a folder; {_HINTS.get(source, _HINTS['data_dir'])}")
    missing = list(MNIST_FILES) if mode is None else _absent_files(folder, subject)
    if required and missing:
        raise DataError(f"{subject} lacks {', '.join(missing)}; {_fetch_hint(source, folder)}")
    return missing


def _absent_files(folder: Path, subject: str) -> list[str]:
    """The MNIST file names that are not files in the existing ``folder``."""
    missing = []
    for name in MNIST_FILES:
        try:
            if not stat.S_ISREG(os.stat(folder / name).st_mode):
                missing.append(name)
        except (FileNotFoundError, NotADirectoryError):
            missing.append(name)
        except OSError as exc:
            raise DataError(f"{subject} cannot be searched ({_reason(exc)}); {_SEARCH_HINT}") from None
    return missing


_HINTS = {  # what to do when the folder a source names is not a folder
    "data_dir": "pass a folder that holds the four MNIST files, or data_dir=None to use $DIGITNET_DATA "
    "or the per-user cache",
    "--data": "give --data a folder that holds the four MNIST files, or leave --data out to use "
    "$DIGITNET_DATA or the per-user cache",
    "DIGITNET_DATA": "set DIGITNET_DATA to a folder that holds the four MNIST files, or unset it to use "
    "the per-user cache (filled by a download on first use)",
    "cache": "remove what is in the way, or set DIGITNET_DATA to a folder that holds the four MNIST files",
}
_SEARCH_HINT = "give a folder you can read, or fix this one's permissions"


def _fetch_hint(source: str, folder: Path) -> str:
    """What to do about a named folder that lacks some of the MNIST files."""
    if source == "--data":
        return (
            f"put the four MNIST files there, or fetch them into it with "
            f"`digitnet data --download --data {folder}`"
        )
    if source == "DIGITNET_DATA":
        return (
            "put the four MNIST files there, or fetch them into it with `digitnet data --download`, "
            "or unset DIGITNET_DATA to use the per-user cache"
        )
    if source == "cache":
        return "call load_mnist(download=True) or run `digitnet data --download` to fetch them"
    return f"put the four MNIST files there, or fetch them into it with download_mnist({str(folder)!r})"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def find_mnist_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder MNIST is read from, if it holds all four files.

    That folder is the first of :func:`mnist_sources`: ``data_dir`` if given, else ``$DIGITNET_DATA``
    if set, else the per-user cache. A folder the caller named is never passed over for the next one.
    Only the presence of the files is checked here; :func:`load_mnist` checks their content.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The folder to use instead of ``$DIGITNET_DATA`` and the cache.

    Returns
    -------
    pathlib.Path or None
        The folder, or None if it lacks some of the files.

    Raises
    ------
    DataError
        If ``data_dir`` or ``$DIGITNET_DATA`` names something that does not exist or is not a folder,
        or the folder cannot be searched (see :func:`missing_mnist_files`).
    """
    source, folder = mnist_sources(data_dir)[0]
    return None if missing_mnist_files(folder, source) else folder
