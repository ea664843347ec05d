"""The safetensors container of a model file, read and checked before anything is allocated from it.

A safetensors file is::

    offset   size   meaning
    0        8      n, the length of the JSON header, little-endian uint64
    8        n      the header: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...}
    8 + n    rest   the tensors' bytes; tensor ``name`` lies at [begin, end) counted from offset 8 + n

A crafted file can declare anything there: a header longer than the file, JSON nested 100,000 deep that
would exhaust Python's recursion, or tensors a million times larger than the file. :func:`read_container`
checks all of it against the file's real size from the header bytes alone, so that neither safetensors
nor NumPy is ever asked for memory that the file does not hold. digitnet writes float32 tensors only,
stored back to back in the order safetensors chose, so any other dtype, gap or overlap is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.checks import is_integer
from digitnet.errors import ModelFileError

__all__ = ["Container", "TensorEntry", "load_bounded_json", "read_container"]

# digitnet's headers are a few kB (a 40-epoch history is about 6 kB); 16 MiB leaves room for a history of
# 100,000 epochs while a bad length cannot make us read, or parse, much more than that.
MAX_HEADER_BYTES = 16 * 2**20
# digitnet's JSON nests 4 deep (header > architecture > layers > layer); Python's json parser recurses
# once per level and fails with RecursionError near 1,000.
MAX_JSON_DEPTH = 32
# Each JSON object or array costs Python about 60-100 bytes; one per 8 bytes of text keeps a header of
# tiny containers (``[{},{},...]``) from costing more than about 10 times its size.
BYTES_PER_CONTAINER = 8
# Per-example tensors in digitnet have at most 4 axes: Conv2D's (F, C, K, K).
MAX_TENSOR_AXES = 8
# safetensors dtype name -> bytes per item; digitnet writes float32 only.
DTYPES = {"F32": 4}

_READ_HINT = "not a readable model file (truncated, corrupted or another format)"
ADVICE = "the file was damaged or edited; retrain the model or restore the file"
"""What every refusal of a damaged or crafted model file ends with."""
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # one JSON string literal, escapes included


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header declares it: its shape and its bytes [begin, end) after the header."""

    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Container:
    """A checked safetensors header: the string metadata and every tensor's entry by name."""

    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]


def load_bounded_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)`` after checking, without recursion, that it nests at most ``max_depth`` deep.

    The brackets are counted outside string literals (which are cut out first with one regular
    expression), so ``"[[["`` inside a string costs nothing. Raises ValueError, with the reason, for
    JSON that is too deep, has too many containers for its size, or does not parse.
    """
    try:
        text = text if isinstance(text, str) else bytes(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid JSON (not UTF-8: {exc})") from None
    raw = text.encode("utf-8", "surrogatepass")  # in UTF-8 no ASCII byte is part of another character
    bare = np.frombuffer(JSON_STRING.sub(b"", raw), np.uint8)  # the text outside strings, (B,)
    opens = (bare == ord("[")) | (bare == ord("{"))  # (B,) bool
    closes = (bare == ord("]")) | (bare == ord("}"))
    if opens.any():
        step = opens.view(np.int8) - closes.view(np.int8)  # (B,): +1 opens, -1 closes a level
        deepest = int(np.cumsum(step, dtype=np.int32).max())  # the nesting level after each byte, (B,) -> ()
        if deepest > max_depth:
            raise ValueError(f"JSON nested {deepest:,} deep; at most {max_depth} is accepted")
    n_open = int(np.count_nonzero(opens))
    if n_open > 64 + len(raw) // BYTES_PER_CONTAINER:
        raise ValueError(
            f"{n_open:,} JSON objects and arrays in {len(raw):,} bytes, more than such a file holds"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, integers of over 4,300 digits
        raise ValueError(f"not valid JSON ({exc})") from None


def read_container(path: Path) -> Container:
    """Read the safetensors header of ``path`` and check it against the file's size.

    Raises
    ------
    ModelFileError
        The file is shorter than its header claims, the header is not JSON of safetensors' shape,
        or a tensor is not float32, has a bad shape, or lies outside the file, over another tensor,
        or leaves bytes unaccounted for.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise _fail(path, f"only {len(prefix)} bytes, fewer than the 8-byte header length")
            n = int.from_bytes(prefix, "little")
            if n > size - 8 or n > MAX_HEADER_BYTES or n < 2:
                raise _fail(
                    path,
                    f"the header length field says {n:,} bytes, but the file has {size - 8:,} after it "
                    f"and a model file's header is 2 bytes to {MAX_HEADER_BYTES:,} bytes",
                )
            text = f.read(n)
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read the model file ({exc.strerror or exc}); check it"
        ) from None
    if len(text) < n:
        raise _fail(path, f"the file ended inside its {n:,}-byte header")
    try:
        header = load_bounded_json(text)
    except ValueError as exc:
        raise _fail(path, f"its safetensors header is {exc}") from None
    if not isinstance(header, dict):
        raise _fail(path, "its safetensors header is JSON, but not a JSON object")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata  # safetensors leaves it out, or null, when empty
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(path, "the safetensors metadata (__metadata__) must map names to strings")
    tensors = {name: _entry(path, name, spec) for name, spec in header.items()}
    _check_layout(path, tensors, size - 8 - n)
    return Container(metadata, tensors)


def _entry(path: Path, name: str, spec: Any) -> TensorEntry:
    """One tensor's header entry, checked: dtype F32, a shape of non-negative integers, and offsets
    whose span is exactly the shape's size in bytes."""
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, f"tensor {short(name)}: its entry must hold exactly dtype, shape and data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _fail(
            path, f"tensor {short(name)} has dtype {short(dtype)}; digitnet writes only {', '.join(DTYPES)}"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_TENSOR_AXES
        or not all(is_integer(d, 0) for d in shape)
    ):
        raise _fail(
            path,
            f"tensor {short(name)}: shape {short(shape)} is not a list of at most "
            f"{MAX_TENSOR_AXES} integers >= 0",
        )
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_integer(o, 0) for o in offsets):
        raise _fail(
            path, f"tensor {short(name)}: data_offsets {short(offsets)} is not a pair of integers >= 0"
        )
    begin, end = offsets
    needed = math.prod(shape) * DTYPES[dtype]
    if end - begin != needed:
        raise _fail(
            path,
            f"tensor {short(name)}: shape {shape} needs {needed:,} bytes, "
            f"but its data_offsets span {end - begin:,}",
        )
    return TensorEntry(tuple(shape), begin, end)


def _check_layout(path: Path, tensors: dict[str, TensorEntry], data_size: int) -> None:
    """The tensors must lie back to back from the end of the header to the end of the file."""
    position = 0
    for name, entry in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin < position:
            raise _fail(path, f"tensor {short(name)} overlaps the tensor stored before it")
        if entry.begin > position:
            raise _fail(path, f"{entry.begin - position:,} unaccounted bytes before tensor {short(name)}")
        position = entry.end
    if position > data_size:
        raise _fail(
            path,
            f"the header declares {position:,} bytes of tensors, but only {data_size:,} follow it: truncated",
        )
    if position < data_size:
        raise _fail(path, f"{data_size - position:,} unaccounted bytes after the last tensor")


def short(value: Any) -> str:
    """``repr(value)``, cut short: a message must not repeat a megabyte of crafted header (the three
    checking modules share it)."""
    return _REPR.repr(value)


def _fail(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"{path}: {_READ_HINT}: {what}; if it is a digitnet model, it was damaged: retrain or restore it"
    )
