"""Download the four MNIST files from public mirrors, checked against pinned checksums.

Each missing or damaged file is fetched from the mirrors in turn, streamed into a temporary file
in the target folder, checked against the SHA-256 of its *decompressed* content (mirrors may
recompress the files, so the ``.gz`` bytes can differ while the data is identical), and only then
moved under its final name in one step. A failed or interrupted download never leaves a partial
file behind.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import types
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from digitnet.errors import DataError
from digitnet.version import __version__

__all__ = ["MIRRORS", "MNIST_FILES", "download_mnist", "verify_file"]

#: The four canonical file names -> SHA-256 of their decompressed content.
MNIST_FILES: Mapping[str, str] = types.MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels-idx1-ubyte.gz": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "t10k-images-idx3-ubyte.gz": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "t10k-labels-idx1-ubyte.gz": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    }
)

#: Base URLs tried in turn; each serves the four files under their canonical names.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",  # the original home, often slow or refusing robots
)

_CHUNK = 1 << 16  # 64 KiB per read: few system calls, smooth progress bar
_SCHEMES = ("http", "https", "ftp", "file")
_USER_AGENT = f"digitnet/{__version__} (the MNIST downloader)"


class _MirrorFailure(Exception):
    """One mirror could not deliver a good copy of one file."""


def verify_file(path: str | os.PathLike[str], sha256: str) -> bool:
    """Tell whether a file's content has the given SHA-256.

    A gzip file (magic bytes ``1f 8b``) is hashed after decompression, any other file as it is.

    Parameters
    ----------
    path : str or path-like
        The file to check.
    sha256 : str
        The expected digest, 64 hexadecimal digits, e.g. a value of :data:`MNIST_FILES`.

    Returns
    -------
    bool
        True if the file exists and its (decompressed) content matches; False if it is missing,
        unreadable, corrupt gzip or different.
    """
    try:
        return _content_sha256(Path(path)) == sha256.lower()
    except (OSError, EOFError, zlib.error):
        return False


def download_mnist(
    target_dir: str | os.PathLike[str],
    *,
    mirrors: Sequence[str] | str = MIRRORS,
    files: Iterable[str] | str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download the MNIST files that are missing or damaged in ``target_dir``.

    Files already there with the right content are kept. For each other file the mirrors are
    tried in turn; a mirror that fails (HTTP error, refused connection, timeout, wrong checksum)
    passes the file on to the next one.

    Parameters
    ----------
    target_dir : str or path-like
        The folder to fill; created if needed.
    mirrors : sequence of str, optional
        Base URLs, each followed by a file name to make that file's URL. Default :data:`MIRRORS`.
    files : iterable of str, optional
        Names from :data:`MNIST_FILES` to fetch. Default: all four.
    progress : bool, optional
        Show a progress bar per file on standard error. Default True.
    timeout : float, optional
        Seconds to wait for a mirror to connect or send more data. Default 30.

    Returns
    -------
    pathlib.Path
        ``target_dir``, holding every requested file.

    Raises
    ------
    ValueError
        If a file name is unknown, ``mirrors`` is empty or holds a URL that is not http(s), ftp
        or file, or ``timeout`` is not positive.
    DataError
        If ``target_dir`` cannot be created, or every mirror failed for some file. The message
        lists each mirror's failure and where to put the files by hand.
    """
    mirrors, names = _check_arguments(mirrors, files, timeout)
    target_dir = Path(target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create the MNIST folder {target_dir} ({e.strerror or e}); choose a folder you "
            "can write to, or set DIGITNET_DATA to a folder that holds the files"
        ) from e

    for name in names:
        if verify_file(target_dir / name, MNIST_FILES[name]):
            continue
        failures = []
        for mirror in mirrors:
            url = (mirror if mirror.endswith("/") else mirror + "/") + name
            try:
                _fetch(url, target_dir / name, MNIST_FILES[name], progress, timeout)
                break
            except _MirrorFailure as e:
                failures.append(f"  {url}: {e}")
        else:
            missing = [n for n in names if not verify_file(target_dir / n, MNIST_FILES[n])]
            raise DataError(
                f"could not download {name} into {target_dir}; every mirror failed:\n"
                + "\n".join(failures)
                + f"\nDownload the files by hand (from any mirror above) and put them in {target_dir}:\n"
                + "\n".join(f"  {n}" for n in missing)
                + "\nor set DIGITNET_DATA to a folder that holds all four MNIST files."
            )
    return target_dir


def _check_arguments(
    mirrors: Sequence[str] | str, files: Iterable[str] | str | None, timeout: float
) -> tuple[list[str], list[str]]:
    """Validate download_mnist's arguments; return the mirrors and the file names to fetch."""
    mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    if len(mirrors) == 0:
        raise ValueError("mirrors is empty; give at least one base URL, e.g. MIRRORS")
    for mirror in mirrors:
        if urllib.parse.urlsplit(str(mirror)).scheme not in _SCHEMES:
            raise ValueError(
                f"mirror {mirror!r} is not a URL with one of the schemes {', '.join(_SCHEMES)}; "
                "give a base URL such as 'https://example.org/mnist/'"
            )
    if isinstance(files, str):
        files = [files]
    names = list(MNIST_FILES) if files is None else list(files)
    for name in names:
        if name not in MNIST_FILES:
            raise ValueError(f"unknown MNIST file {name!r}; choose among {', '.join(MNIST_FILES)}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return mirrors, names


def _fetch(url: str, final: Path, sha256: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``final``, verify it, move it into place.

    Raises _MirrorFailure saying what went wrong; the temporary file is always removed.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    except OSError as e:
        raise DataError(
            f"cannot write into the MNIST folder {final.parent} ({e.strerror or e}); choose a "
            "folder you can write to, or set DIGITNET_DATA to a folder that holds the files"
        ) from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, final.name, progress, timeout)
        try:
            got = _content_sha256(tmp)
        except (OSError, EOFError, zlib.error) as e:
            raise _MirrorFailure(f"the download is not valid gzip data ({e})") from e
        if got != sha256:
            raise _MirrorFailure(
                f"checksum mismatch: the decompressed content has SHA-256 {got}, expected {sha256}"
            )
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, out, desc: str, progress: bool, timeout: float) -> None:
    """Copy the body at ``url`` into the open binary file ``out``, with a progress bar."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total,
                desc=desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        raise _MirrorFailure(f"HTTP error {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _MirrorFailure(f"cannot connect ({e.reason})") from e
    except TimeoutError as e:
        raise _MirrorFailure(f"no data for {timeout:g} s (timed out)") from e
    except (OSError, http.client.HTTPException) as e:
        raise _MirrorFailure(f"transfer failed ({type(e).__name__}: {e})") from e


def _content_sha256(path: Path) -> str:
    """SHA-256 of a file's content, decompressed first if it is gzip."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw as stream:
            while chunk := stream.read(1 << 20):  # 1 MiB at a time: constant memory
                digest.update(chunk)
    return digest.hexdigest()
