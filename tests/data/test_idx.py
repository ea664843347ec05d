"""IDX reading and writing: round trips, the exact byte layout, and every way a file can be bad."""

import gzip
import os
import struct

import numpy as np
import pytest

from digitnet.data import read_idx, write_idx
from digitnet.data.idx import IDX_TYPES
from digitnet.errors import DataError, DigitnetError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file built by hand, independently of write_idx."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def raises_data_error(path, *fragments):
    """Assert read_idx(path) raises DataError naming the file and containing each fragment."""
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (0, 28, 28)])
def test_round_trip(tmp_path, dtype, suffix, shape):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", array)

    back = read_idx(path)

    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    assert back.shape == shape
    assert back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(back, array)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if suffix.endswith(".gz") else b"\x00\x00")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a{suffix}"]  # no temp file left


def test_layout_matches_the_format(tmp_path):
    array = np.array([[1, -2, 300], [4, 5, -32768]], dtype=np.int16)
    write_idx(tmp_path / "a.idx", array)
    assert (tmp_path / "a.idx").read_bytes() == (
        b"\x00\x00\x0b\x02" + b"\x00\x00\x00\x02\x00\x00\x00\x03" + array.astype(">i2").tobytes()
    )


@pytest.mark.parametrize("code", sorted(IDX_TYPES))
def test_reads_files_written_by_hand(tmp_path, code):
    array = np.arange(24, dtype=IDX_TYPES[code].newbyteorder("=")).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array, code))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


def test_gzip_is_detected_by_magic_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "packed.idx", array, compress=True)
    write_idx(tmp_path / "plain.gz", array, compress=False)
    assert (tmp_path / "packed.idx").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def test_writes_big_endian_and_non_contiguous_input(tmp_path):
    array = np.arange(12, dtype=">i4").reshape(3, 4).T  # (4, 3), Fortran-ordered view
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.idx", array)), array)


def test_compressed_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.float32)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = write_idx(tmp_path / "one" / "a.gz", array).read_bytes()
    second = write_idx(tmp_path / "two" / "a.gz", array).read_bytes()
    assert first == second  # mtime 0 and no temporary name in the gzip header


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.uint16, np.float16, np.complex64])
def test_write_rejects_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(ValueError, match=np.dtype(dtype).name) as info:
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=dtype))
    assert "uint8" in str(info.value) and "float64" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_scalars_and_bad_compress(tmp_path):
    with pytest.raises(ValueError, match="0 dimensions"):
        write_idx(tmp_path / "a.idx", np.float32(1.0))
    with pytest.raises(ValueError, match="compress"):
        write_idx(tmp_path / "a.idx", np.zeros(3, np.uint8), compress="yes")


def test_write_is_atomic_when_the_final_step_fails(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "a.idx.gz", np.arange(5, dtype=np.uint8))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_idx(path, np.arange(50, dtype=np.float64))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx.gz"]


def test_overwrites_existing_file(tmp_path):
    write_idx(tmp_path / "a.idx", np.arange(5, dtype=np.uint8))
    write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.int32))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), [0, 1, 2])


# --- bad files --------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_data(tmp_path, compressed):
    content = idx_bytes(np.zeros((10, 28, 28), np.uint8), 0x08)[:-100]
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(content) if compressed else content)
    message = raises_data_error(path, "truncated", "7,840", "7,740")
    assert "download it again" in message


def test_truncated_header(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x01")
    raises_data_error(path, "truncated IDX header", "16")


@pytest.mark.parametrize("content", [b"", b"\x00\x00"], ids=["empty", "two-bytes"])
def test_too_short(tmp_path, content):
    path = tmp_path / "a.idx"
    path.write_bytes(content)
    raises_data_error(path, "not an IDX file", f"only {len(content)} bytes")


def test_trailing_bytes(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(np.arange(6, dtype=np.int32), 0x0C) + b"\x00" * 3)
    raises_data_error(path, "3 unexpected bytes", "24")


def test_bad_magic(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x01\x00" + idx_bytes(np.arange(6, dtype=np.uint8), 0x08)[2:])
    raises_data_error(path, "not an IDX file (magic 01 00 08 01")


def test_unknown_type_code(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00")
    raises_data_error(path, "unknown IDX type code 0x0A", "0x08 (uint8)")


def test_zero_dimensions(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(b"\x00\x00\x08\x00\x07")
    raises_data_error(path, "0 dimensions")


@pytest.mark.parametrize(
    "content, magic",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20), "89 50 4e 47"),
        (b"label,pixel0,pixel1\n5,0,0\n", "6c 61 62 65"),
    ],
    ids=["png", "csv"],
)
def test_foreign_file(tmp_path, content, magic):
    path = tmp_path / "digits.gz"
    path.write_bytes(content)
    raises_data_error(path, f"not an IDX file (magic {magic}")


def _corrupt_crc(z: bytes) -> bytes:
    return z[:-8] + bytes([z[-8] ^ 0xFF]) + z[-7:]


@pytest.mark.parametrize(
    "damage",
    [_corrupt_crc, lambda z: z[: len(z) // 2], lambda z: z + b"junk"],
    ids=["bad-crc", "truncated-stream", "trailing-garbage"],
)
def test_corrupt_gzip(tmp_path, damage):
    path = tmp_path / "labels.gz"
    path.write_bytes(damage(gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8), 0x08))))
    raises_data_error(path, "corrupt gzip")


def test_missing_file(tmp_path):
    raises_data_error(tmp_path / "nowhere.gz", "no such file")


def test_folder_instead_of_file(tmp_path):
    raises_data_error(tmp_path, "folder")


def test_data_error_is_a_digitnet_error(tmp_path):
    with pytest.raises(DigitnetError):
        read_idx(tmp_path / "nowhere.gz")


def test_reads_real_mnist_labels(mnist_dir):
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.dtype == np.uint8 and labels.shape == (10_000,)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
