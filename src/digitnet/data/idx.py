"""Read and write IDX files, the simple array format MNIST is distributed in.

An IDX file is a header followed by the raw array, all big-endian::

    offset  size       meaning
    0       2          always 00 00
    2       1          type code (see ``IDX_TYPES``)
    3       1          number of dimensions, ndim
    4       4 * ndim   the size of each dimension, as big-endian uint32
    ...     prod * k   the data, row-major (C order), k bytes per item

MNIST ships its files gzip-compressed; :func:`read_idx` recognises gzip by its magic bytes ``1f 8b``,
whatever the file is called, and checks every part of the header against the data before trusting it.
It decompresses only as much as the header promises (and a little more, to tell that there is more), so
a small file that inflates to gigabytes costs no more memory than the data its header declares, and a
header declaring more than the file holds costs nothing: memory follows the bytes present, never the
sizes declared.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from digitnet.atomic import atomic_write
from digitnet.errors import DataError
from digitnet.files import file_problem

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]

#: Type code in the header -> big-endian NumPy dtype of the data as stored on disk.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),  # unsigned byte: MNIST images and labels
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}

_GZIP_MAGIC = b"\x1f\x8b"
_SUPPORTED = ", ".join(str(dt.newbyteorder("=")) for dt in IDX_TYPES.values())
# zlib's own default level: files almost as small as level 9, written several times faster.
_COMPRESSLEVEL = 6
# Decompressed bytes read past the promised data to report how many there are, and per read.
_EXTRA = 2**20
_CHUNK = 2**22


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a new native-endian array.

    Parameters
    ----------
    path : str or path-like
        The file. Gzip is recognised by the magic bytes ``1f 8b``, not by the extension.

    Returns
    -------
    numpy.ndarray
        A writable array with the dtype named by the header's type code (uint8, int8, int16,
        int32, float32 or float64) in native byte order.

    Shape
    -----
    Exactly the dimensions in the header, e.g. ``(60000, 28, 28)`` for the MNIST training images
    and ``(60000,)`` for their labels.

    Raises
    ------
    DataError
        If the file is missing or unreadable, is corrupt gzip, is not an IDX file, has an unknown
        type code, or holds fewer or more data bytes than its header promises.
    """
    path = Path(path)
    data, complete = _decompressed_bytes(path)
    dtype, shape, offset = _parse_header(path, data)
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - offset
    if found < expected:
        raise DataError(
            f"{path}: truncated IDX file: its header promises shape {shape} of {dtype.name}, "
            f"which needs {expected:,} bytes of data, but only {found:,} are present; "
            "the file is incomplete, so download it again"
        )
    if found > expected:
        more = "" if complete else "more than "
        raise DataError(
            f"{path}: {more}{found - expected:,} unexpected bytes after the data: its header promises "
            f"shape {shape} of {dtype.name} ({expected:,} bytes) but {more}{found:,} follow the header; "
            "the file is damaged or not what it claims to be, so download it again"
        )
    try:  # a view, nothing allocated yet
        array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)
    except ValueError as e:  # more axes than NumPy allows, or empty with an overflowing size
        raise DataError(
            f"{path}: its header declares shape {shape}, which NumPy cannot hold ({e}); "
            "the file is damaged or not an MNIST file, so download it again"
        ) from None
    # astype copies, so the result owns its memory, is writable and is in native byte order.
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write an array as an IDX file, atomically.

    The bytes go to a temporary file in the same folder, which then replaces ``path`` in one step
    (:func:`os.replace`), so a reader never sees a half-written file under the final name.

    Parameters
    ----------
    path : str or path-like
        Where to write. Its folder must exist.
    array : array_like
        The data: uint8, int8, int16, int32, float32 or float64, with at least one dimension.
    compress : bool or None, optional
        Gzip the file. ``None`` (the default) compresses when ``path`` ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Shape
    -----
    Any shape with 1 to 255 dimensions, each smaller than 2**32; it is stored in the header.

    Raises
    ------
    ValueError
        If the dtype or shape cannot be stored in IDX, or ``compress`` is not a bool or None.
    """
    path = Path(path)
    array = np.asarray(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    elif not isinstance(compress, bool):
        raise ValueError(f"compress must be True, False or None, not {compress!r}")
    header = _header(array)
    # The data as big-endian bytes, in C order: (prod(shape) * itemsize,)
    payload = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).reshape(-1)
    payload = payload.view(np.uint8)

    with atomic_write(path) as raw:
        if compress:
            with gzip.GzipFile(
                filename=path.name, mode="wb", fileobj=raw, compresslevel=_COMPRESSLEVEL, mtime=0
            ) as out:
                out.write(header)
                out.write(payload)
        else:
            raw.write(header)
            raw.write(payload)
    return path


def _header(array: np.ndarray) -> bytes:
    """The IDX header for ``array``, or ValueError if IDX cannot hold it."""
    codes = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}
    code = codes.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"cannot write dtype {array.dtype} to an IDX file; supported dtypes are {_SUPPORTED}: "
            "convert the array first, e.g. array.astype(np.float32)"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(
            f"cannot write an array with {array.ndim} dimensions to an IDX file; "
            "it needs 1 to 255 dimensions: use array.reshape(1) for a scalar"
        )
    if max(array.shape) >= 2**32:
        raise ValueError(
            f"cannot write shape {array.shape} to an IDX file: each dimension must be below 2**32"
        )
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)


def _decompressed_bytes(path: Path) -> tuple[bytes | bytearray, bool]:
    """The content of ``path``, gunzipped if it starts with the gzip magic bytes, and whether it is
    complete: a gzip stream is read only up to what its IDX header promises, plus ``_EXTRA`` bytes."""
    problem = file_problem(path)  # a FIFO or a device named as an MNIST file would hang the read
    if problem not in (None, "does not exist") and not problem.startswith("is a folder"):
        raise DataError(f"{path} {problem}; give the path of an IDX file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such file; check the path, or fetch MNIST with digitnet.data.download_mnist"
        ) from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an IDX file; give the path of a file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e}); check it") from e
    if not data.startswith(_GZIP_MAGIC):
        return data, True
    try:
        return _gunzip_idx(path, data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: corrupt gzip data ({e}); the file is damaged or incomplete, "
            "so delete it and download it again"
        ) from e


def _gunzip_idx(path: Path, compressed: bytes) -> tuple[bytearray, bool]:
    """Decompress the header, then at most the data it promises and ``_EXTRA`` bytes more.

    Memory grows with the bytes actually decompressed, never with the sizes a header declares. The
    gzip checksums are verified whenever the stream ends within that, which it does for every good file.
    """
    data, wanted = bytearray(), None
    pieces = _inflate(compressed)
    for piece in pieces:
        data += piece
        if wanted is None and len(data) >= 4 and len(data) >= 4 + 4 * data[3]:
            dtype, shape, offset = _parse_header(path, data)  # DataError for a bad header
            wanted = offset + math.prod(shape) * dtype.itemsize + _EXTRA
        if wanted is not None and len(data) >= wanted:
            complete = len(data) == wanted and next(pieces, None) is None
            del data[wanted:]
            return data, complete
    return data, True


def _inflate(compressed: bytes) -> Iterator[bytes]:
    """The content of gzip data of one or more members, in pieces of at most ``_CHUNK`` bytes.

    zlib checks each member's CRC-32 and length (wbits=31 selects the gzip framing). Raises zlib.error
    for damaged data, EOFError when it ends early and OSError for anything but a member after one.
    """
    view, pos = memoryview(compressed), 0
    while True:
        inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            if inflater.unconsumed_tail:  # input held back so that no piece exceeds _CHUNK
                piece = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
            elif pos < len(view):
                piece = inflater.decompress(view[pos : pos + _CHUNK], _CHUNK)
                pos = min(pos + _CHUNK, len(view))
            else:
                raise EOFError("the compressed data ends before the end of its stream")
            if piece:
                yield piece
        pos -= len(inflater.unused_data)  # the input read past this member's end
        if pos >= len(view):
            return
        if view[pos : pos + 2] != _GZIP_MAGIC:
            raise OSError(f"{len(view) - pos:,} bytes after the gzip data that are not another gzip member")


def _parse_header(path: Path, data: bytes | bytearray) -> tuple[np.dtype, tuple[int, ...], int]:
    """Decode and check an IDX header: (on-disk dtype, shape, offset of the data)."""
    if len(data) < 4:
        raise DataError(
            f"{path}: not an IDX file: only {len(data)} bytes, fewer than the 4-byte magic number; "
            "the file is empty or truncated, so download it again"
        )
    if data[:2] != b"\x00\x00":
        raise DataError(
            f"{path}: not an IDX file (magic {data[:4].hex(' ')}; an IDX file starts with 00 00); "
            "check that the path names an MNIST data file"
        )
    code, ndim = data[2], data[3]
    dtype = IDX_TYPES.get(code)
    if dtype is None:
        known = ", ".join(f"0x{c:02X} ({dt.name})" for c, dt in IDX_TYPES.items())
        raise DataError(
            f"{path}: unknown IDX type code 0x{code:02X}; known codes are {known}; "
            "the file is damaged or not an IDX file"
        )
    if ndim == 0:
        raise DataError(
            f"{path}: the IDX header declares 0 dimensions, but an IDX array has at least one; "
            "the file is damaged, so download it again"
        )
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(
            f"{path}: truncated IDX header: {ndim} dimensions need {offset} header bytes, "
            f"but the file has only {len(data)}; download it again"
        )
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    return dtype, shape, offset
