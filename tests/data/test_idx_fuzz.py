"""Fuzzing the IDX reader: whatever the bytes, an array or a DataError, in memory that follows the data.

Every example mutates a real IDX file written by ``write_idx`` (raw or gzip-compressed, uint8 or float32):
bit flips, truncation, and headers rewritten with any type code, any number of dimensions and sizes up
to 2**32 - 1, whose product is far beyond any memory. The outcome must be an array or a DataError naming
the file; tracemalloc (which NumPy reports its arrays to) must see at most 20 times the file's size and
its decompressed size, plus 5 MB, allocated while reading.
"""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.data import read_idx, write_idx
from digitnet.errors import DataError

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KINDS = st.sampled_from(["u8.idx", "u8.idx.gz", "f32.idx", "f32.idx.gz"])
DIMENSIONS = st.sampled_from([0, 1, 2**16, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of four small real IDX files, by name."""
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    arrays = {
        "u8": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "f32": rng.random((7, 13), np.float32),
    }
    return {
        f"{kind}.{suffix}": write_idx(folder / f"{kind}.{suffix}", array).read_bytes()
        for kind, array in arrays.items()
        for suffix in ("idx", "idx.gz")
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "data.idx"


def outcome(path, content: bytes, compress: bool = False):
    """Write ``content`` (gzipped if asked) to ``path`` and read it: the array, or the DataError's message.

    Any other exception fails the test, as does reading that allocates more than 20 times the file's
    and the content's size, plus 5 MB.
    """
    stored = gzip.compress(content, mtime=0) if compress else content
    path.write_bytes(stored)
    tracemalloc.start()
    try:
        result = read_idx(path)
    except DataError as exc:
        result = str(exc)
        assert result.startswith(f"{path}: "), result
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    budget = 20 * (len(stored) + len(content)) + 5 * 2**20
    assert peak <= budget, f"{peak:,} bytes allocated for {len(stored):,} bytes holding {len(content):,}"
    return result


def content_of(name: str, stored: bytes) -> bytes:
    return gzip.decompress(stored) if name.endswith(".gz") else stored


@FUZZ
@given(name=KINDS, flips=st.lists(st.integers(0, 2**40), min_size=1, max_size=8), near_start=st.booleans())
def test_bit_flips(originals, target, name, flips, near_start):
    content = bytearray(originals[name])
    span = min(len(content), 64) if near_start else len(content)  # the header, or the gzip header
    for bit in flips:
        content[(bit // 8) % span] ^= 1 << (bit % 8)
    outcome(target, bytes(content))


@FUZZ
@given(name=KINDS, keep=st.floats(0, 1, exclude_max=True), compress=st.booleans())
def test_truncation(originals, target, name, keep, compress):
    stored = originals[name]
    if compress:  # a complete gzip stream of a truncated IDX file
        content = content_of(name, stored)
        result = outcome(target, content[: int(len(content) * keep)], compress=True)
    else:
        result = outcome(target, stored[: int(len(stored) * keep)])
    assert isinstance(result, str)


@FUZZ
@given(
    name=KINDS,
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]) | st.integers(0, 255),
    dims=st.lists(DIMENSIONS, min_size=0, max_size=70),
    ndim_lies=st.integers(-3, 3),
    compress=st.booleans(),
)
def test_headers_declaring_anything(originals, target, name, code, dims, ndim_lies, compress):
    content = content_of(name, originals[name])
    old_ndim = content[3]
    data = content[4 + 4 * old_ndim :]
    ndim = min(max(len(dims) + ndim_lies, 0), 255)
    header = bytes([0, 0, code, ndim]) + struct.pack(f">{len(dims)}I", *dims)
    result = outcome(target, header + data, compress=compress)
    if isinstance(result, np.ndarray):
        assert result.nbytes <= len(data)


@FUZZ
@given(name=KINDS, data=st.data())
def test_one_huge_dimension(originals, target, name, data):
    content = bytearray(content_of(name, originals[name]))
    axis = data.draw(st.integers(0, content[3] - 1))
    size = data.draw(st.sampled_from([2**31, 2**32 - 1]) | st.integers(2**20, 2**32 - 1))
    content[4 + 4 * axis : 8 + 4 * axis] = struct.pack(">I", size)
    result = outcome(target, bytes(content), compress=data.draw(st.booleans()))
    assert "truncated IDX file" in result


@settings(FUZZ, max_examples=20)
@given(size=st.integers(2**20, 2**24), declared=st.integers(0, 2**32 - 1))
def test_a_gzip_bomb_costs_no_more_than_its_header_promises(target, size, declared):
    """16 kB at most that inflate to up to 16 MB: decompression stops soon after what the header declares."""
    content = bytes([0, 0, 0x08, 1]) + struct.pack(">I", declared) + bytes(size)
    target.write_bytes(gzip.compress(content, mtime=0))
    tracemalloc.start()
    try:
        result = read_idx(target)
    except DataError as exc:
        result = str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert isinstance(result, np.ndarray) == (declared == size)
    assert peak <= 2 * min(size, declared) + 10 * 2**20  # the array and its copy; a piece of 4 MB, 1 MB more
