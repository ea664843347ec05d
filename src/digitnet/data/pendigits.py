"""Digits drawn with a pen by 30 people: the training split of UCI's Pen-Based Recognition of Handwritten
Digits, as strokes, drawn with the page's pen.

Alimoglu and Alpaydin (1996) had 44 writers each write 250 digits on a pressure-sensitive tablet, in
boxes 500 tablet pixels square, sampled every 100 ms; the digits of 30 writers form the training file
``pendigits-orig.tra`` (7,494 digits), those of the other 14 the test file. **digitnet reads only the
training file**: the test file of the 14 other writers is kept apart, never downloaded or read here, so
that anyone can measure what digitnet builds on writers it has never been tuned on. The data is
published by the UCI Machine Learning Repository under the Creative Commons Attribution 4.0 licence
(https://doi.org/10.24432/C5MG6K).

The file is in the UNIPEN text format: a ``.SEGMENT DIGIT n ? "d"`` line starts a digit of label d, a
``.COMMENT d writer k`` line names its writer (1 to 30) and its place among the writer's digits, and
each stroke is the ``x y`` lines between ``.PEN_DOWN`` and ``.PEN_UP``, y counted upwards.

:func:`load_pendigits` finds the file (``DIGITNET_PENDIGITS`` names a folder holding it, else the
per-user cache, filled on first use by :func:`download_pendigits`: the UCI archive's ``.Z`` file, or a
mirror's, checked against the SHA-256 of its decompressed content), reads it, and
:func:`pendigits_inputs` draws each digit with the drawing page's pen on its 280x280 pad and prepares
it exactly as the page's drawings are prepared.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from digitnet.data.download import _MirrorFailure, _stream
from digitnet.data.lzw import MAGIC, decompress
from digitnet.errors import DataError
from digitnet.files import file_problem

__all__ = [
    "PEN_WIDTHS",
    "WRITER_SPLITS",
    "PENDIGITS_FILE",
    "PENDIGITS_MIRRORS",
    "PENDIGITS_SHA256",
    "PenDigits",
    "download_pendigits",
    "find_pendigits",
    "load_pendigits",
    "parse_unipen",
    "pen_training_digits",
    "pendigits_inputs",
]

PENDIGITS_FILE = "pendigits-orig.tra"
"""The training file's name, as the UCI archive names it (without the ``.Z``)."""

PENDIGITS_SHA256 = "a66225d68d7d68591e62944df1ad33b3f5aa608e2df2505844b41f5568a80da4"
"""SHA-256 of the training file's content (3,641,673 bytes), whatever compression it arrived in."""

PENDIGITS_MIRRORS: tuple[str, ...] = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/pendigits-orig.tra.Z",
    "https://raw.githubusercontent.com/amknguyen/sigKerForPenDigits/main/data/pendigits-orig.tra.Z",
    "https://raw.githubusercontent.com/kleinplw/HMM-Pendigits/master/data/pendigits-orig.tra",
)
"""Where the training file is fetched from, in turn: UCI's archive, then two public copies that hold the
same content (the checksum decides)."""

BOX = 500
"""The writers' box on the tablet, in tablet pixels: coordinates run from 0 to 500."""

WRITER_SPLITS: dict[str, range] = {"train": range(1, 21), "validation": range(21, 31)}
"""Which writers' digits digitnet may train on (1 to 20, 4,996 digits) and which it measures and calibrates
on (21 to 30, 2,498 digits): split by writer, so that a validation figure is one on people whose hands
the network has never seen."""

PEN_WIDTHS = (18.0, 14.0, 24.0, 11.0, 30.0)
"""The pen widths of successive copies of the training digits: the page's default first, then thinner and
thicker pens (the page's brush runs from 8 to 40)."""

ENV = "DIGITNET_PENDIGITS"


@dataclass(frozen=True, eq=False)
class PenDigits:
    """Digits as strokes.

    Attributes
    ----------
    strokes : list of list of numpy.ndarray
        Each digit's strokes, each ``(P, 2)`` points ``(x, y)`` in tablet pixels, y upwards.
    labels : numpy.ndarray
        The digits, int64, shape (N,).
    writers : numpy.ndarray
        Each digit's writer, 1 to 30, int64, shape (N,).
    """

    strokes: list
    labels: np.ndarray
    writers: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> PenDigits:
        """The digits of the writers of ``WRITER_SPLITS[name]``: ``"train"`` or ``"validation"``."""
        if name not in WRITER_SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(WRITER_SPLITS)}")
        keep = np.flatnonzero(np.isin(self.writers, list(WRITER_SPLITS[name])))
        return PenDigits([self.strokes[k] for k in keep], self.labels[keep], self.writers[keep])


def parse_unipen(text: str, name: str = "pen digits") -> PenDigits:
    """Read digits from UNIPEN text as the pen-digits files write it.

    Raises
    ------
    DataError
        Naming the line, for a file that is not such text: a point outside a stroke, a stroke outside a
        digit, a label that is not a digit, a number that is not an integer, a digit without strokes.
    """
    strokes: list[list[np.ndarray]] = []
    labels, writers = [], []
    current: list[list[tuple[int, int]]] | None = None
    pen_down = False
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == ".SEGMENT":
                _close(current, strokes, name, number)
                label = re.fullmatch(r'"(\d)"', words[-1])
                if label is None:
                    raise ValueError(f"a digit's label must be one digit in quotes, got {words[-1]!r}")
                labels.append(int(label.group(1)))
                writers.append(0)
                current, pen_down = [], False
            elif words[0] == ".COMMENT" and current is not None and len(words) >= 3:
                writers[-1] = int(words[2])
            elif words[0] == ".PEN_DOWN":
                if current is None:
                    raise ValueError("a stroke before any .SEGMENT")
                current.append([])
                pen_down = True
            elif words[0] == ".PEN_UP":
                pen_down = False
            elif not words[0].startswith("."):
                if not pen_down or len(words) != 2:
                    raise ValueError("a point must be two numbers between .PEN_DOWN and .PEN_UP")
                current[-1].append((int(words[0]), int(words[1])))
        except ValueError as exc:
            raise DataError(f"{name}, line {number}: {exc}") from None
    _close(current, strokes, name, len(text.splitlines()))
    return PenDigits(strokes, np.array(labels, dtype=np.int64), np.array(writers, dtype=np.int64))


def _close(current, strokes: list, name: str, number: int) -> None:
    """Append the digit being read, if any, refusing one without a point."""
    if current is None:
        return
    kept = [np.array(s, dtype=np.float64) for s in current if s]
    if not kept:
        raise DataError(f"{name}, before line {number}: a digit without any stroke")
    strokes.append(kept)


def find_pendigits() -> Path:
    """The folder the training file is read from: ``$DIGITNET_PENDIGITS``, else the per-user cache."""
    named = os.environ.get(ENV)
    return Path(named) if named else platformdirs.user_cache_path("digitnet") / "pendigits"


def load_pendigits(
    folder: str | os.PathLike | None = None, *, download: bool = True, progress: bool = True
) -> PenDigits:
    """Read the training file from ``folder`` (default :func:`find_pendigits`), downloading it into the
    per-user cache first if that is where it is missing.

    Raises
    ------
    DataError
        If the file is missing from a folder you named (which is never downloaded into), its content is
        not the published one, or the download failed; the message says what to do.
    """
    if folder is not None:
        named = f"the folder {folder}"
    elif os.environ.get(ENV):
        named = f"{ENV} names {os.environ[ENV]}, which"
    else:
        named = None
    folder = Path(folder) if folder is not None else find_pendigits()
    path = folder / PENDIGITS_FILE
    problem = file_problem(path)
    if problem not in (None, "does not exist"):
        raise DataError(f"{path} {problem}; put the pen digits' training file there")
    if problem is not None:
        if named or not download:
            raise DataError(
                f"{named or f'the folder {folder}'} holds no {PENDIGITS_FILE}: download it from "
                f"{PENDIGITS_MIRRORS[0]} and uncompress it (`uncompress` or `gzip -d`) into that folder, "
                f"or leave {ENV} unset to let digitnet download it into its cache"
            )
        download_pendigits(folder, progress=progress)
    try:
        size = path.stat().st_size
        if size > 16 << 20:  # the real file is 3.6 MB
            raise DataError(f"{path} holds {size:,} bytes: not the training file of pen digits (3.6 MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != PENDIGITS_SHA256:
        raise DataError(
            f"{path} is not the published training file of pen digits (its SHA-256 differs); delete it, "
            f"and digitnet downloads it again into its cache, or put the right file there"
        )
    return parse_unipen(data.decode("ascii"), str(path))


def download_pendigits(
    folder: str | os.PathLike,
    *,
    mirrors: tuple[str, ...] = PENDIGITS_MIRRORS,
    progress: bool = True,
    timeout: float = 30.0,
    sha256: str = PENDIGITS_SHA256,
) -> Path:
    """Fetch the training file into ``folder`` from the first mirror that gives the right content.

    Each download is streamed into a temporary file, uncompressed if it is a ``.Z`` file, checked against
    ``sha256`` (default :data:`PENDIGITS_SHA256`) and only then written under its name, atomically.

    Raises
    ------
    DataError
        If the folder cannot be written, or every mirror failed; each mirror's failure is listed.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the pen-digits folder {folder} ({exc.strerror or exc})") from None
    failures = []
    for url in mirrors:
        try:
            content = _fetch_content(url, folder, progress, timeout, sha256)
        except _MirrorFailure as exc:
            failures.append(f"  {url}: {exc}")
            continue
        final = folder / PENDIGITS_FILE
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{PENDIGITS_FILE}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(name, final)
        finally:
            Path(name).unlink(missing_ok=True)
        return final
    raise DataError(
        f"could not download {PENDIGITS_FILE} into {folder}; every mirror failed:\n"
        + "\n".join(failures)
        + f"\nDownload it by hand from any of them (uncompress a .Z file), put it in a folder and set "
        f"{ENV} to that folder."
    )


def _fetch_content(url: str, folder: Path, progress: bool, timeout: float, sha256: str) -> bytes:
    """The file at ``url``, uncompressed, if its content has SHA-256 ``sha256``; else _MirrorFailure."""
    with tempfile.TemporaryFile(dir=folder) as raw:
        _stream(url, raw, PENDIGITS_FILE, progress, timeout)
        raw.seek(0)
        data = raw.read(16 << 20)  # the .Z file is 1 MB and the text 3.6 MB: more is not this file
    if data[:2] == MAGIC:
        try:
            data = decompress(data, limit=8 << 20)
        except DataError as exc:
            raise _MirrorFailure(str(exc)) from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise _MirrorFailure(f"checksum mismatch: the content has SHA-256 {got}, expected {sha256}")
    return data


def pen_training_digits(copies: int, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The training writers' digits (``WRITER_SPLITS["train"]``), drawn ``copies`` times, each time with the
    next pen of :data:`PEN_WIDTHS`, for mixing into MNIST's training set.

    Shape: -> x (copies * 4996, 784) float32, y (copies * 4996,) uint8 (MNIST's label type).
    """
    if not 1 <= copies <= len(PEN_WIDTHS):
        raise ValueError(f"copies must be 1 to {len(PEN_WIDTHS)}, got {copies!r}")
    digits = load_pendigits(progress=progress).split("train")
    x = np.concatenate([pendigits_inputs(digits, width=w, progress=progress) for w in PEN_WIDTHS[:copies]])
    return x, np.tile(digits.labels, copies).astype(np.uint8)


def pendigits_inputs(digits: PenDigits, *, width: float | None = None, progress: bool = False) -> np.ndarray:
    """Draw each digit with the page's pen on its pad and prepare it as the page's drawings are.

    The writer's 500-pixel box becomes the 280-pixel pad (y turned downwards), so a digit keeps the
    size it had in its box, and the pen is the page's default (:data:`digitnet.imaging.pen.BRUSH`).

    Shape: N digits -> (N, 784) float32.
    """
    from tqdm import tqdm

    from digitnet.imaging import preprocess
    from digitnet.imaging.pen import BRUSH, PAD, render_strokes

    scale = PAD / BOX
    out = np.empty((len(digits), 784), dtype=np.float32)
    for k, strokes in enumerate(
        tqdm(digits.strokes, desc="drawing pen digits", disable=not progress, leave=False)
    ):
        on_pad = [
            np.stack([s[:, 0] * scale, (BOX - s[:, 1]) * scale], axis=1) for s in strokes
        ]  # (P, 2) each
        picture = render_strokes(on_pad, width=BRUSH if width is None else width)  # (280, 280) uint8
        out[k] = preprocess(picture).input.reshape(-1)  # (28, 28) -> (784,)
    return out
