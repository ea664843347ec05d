"""UCI pen digits: the .Z reader, the UNIPEN parser, the download (from a local server), the writer split,
and drawing them with the page's pen. Fixtures: our own UNIPEN text, compressed by Unix compress."""

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from digitnet.data.lzw import decompress
from digitnet.data.pendigits import (
    PENDIGITS_FILE,
    PENDIGITS_SHA256,
    WRITER_SPLITS,
    download_pendigits,
    load_pendigits,
    parse_unipen,
    pendigits_inputs,
)
from digitnet.errors import DataError

FIXTURES = Path(__file__).with_name("fixtures")
SAMPLE = (FIXTURES / "pendigits-sample.tra").read_bytes()


@pytest.mark.parametrize("name", ["pendigits-sample.tra.Z", "pendigits-sample-b10.tra.Z"])
def test_compressed_files_read_back_exactly(name):
    """16-bit codes (the UCI file's), and 10-bit ones whose table fills and stops growing."""
    assert decompress((FIXTURES / name).read_bytes()) == SAMPLE


def test_a_file_whose_table_is_cleared_reads_back_exactly():
    raw = b"digitnet " * 3000 + bytes(np.random.default_rng(0).integers(97, 123, 12000, dtype=np.uint8))
    assert decompress((FIXTURES / "lzw-clear-b10.Z").read_bytes()) == raw  # compress -b10 cleared once


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x1f\x8b\x08", "not a Unix compress"),
        (b"\x1f\x9d\x90" + bytes(10), "not yet defined"),  # code 0 then code 0: fine; then a code > table
        (b"\x1f\x9d\x85abc", "largest code width is 5"),
    ],
)
def test_damaged_compressed_data_is_refused_with_a_reason(data, message):
    if message == "not yet defined":
        data = b"\x1f\x9d\x90" + (0x1FF).to_bytes(2, "little") + bytes(4)  # code 511 first: undefined
        message = "not yet defined|damaged"
    with pytest.raises(DataError, match=message):
        decompress(data)


def test_a_small_file_that_would_expand_beyond_the_limit_is_refused():
    with pytest.raises(DataError, match="more than 1,000 bytes"):
        decompress((FIXTURES / "pendigits-sample.tra.Z").read_bytes(), limit=1000)


def test_parse_reads_labels_writers_and_strokes():
    digits = parse_unipen(SAMPLE.decode())
    assert len(digits) == 60 and digits.labels.tolist() == [k % 10 for k in range(60)]
    assert digits.writers.tolist() == [1 + (k // 10) * 5 for k in range(60)]
    assert [len(s) for s in digits.strokes[:8]] == [1, 1, 1, 1, 2, 2, 1, 2]  # 4, 5, 7 have two strokes
    assert all(s.shape[1] == 2 and len(s) >= 8 for d in digits.strokes for s in d)


@pytest.mark.parametrize(
    "text, message",
    [
        (" 12 34\n", "line 1: a point must be two numbers"),
        ('.SEGMENT DIGIT 0 ? "x"\n', "line 1: a digit's label must be one digit in quotes"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n 1 2 3\n', "line 3: a point must be two numbers"),
        ('.SEGMENT DIGIT 0 ? "3"\n.PEN_DOWN\n 1 two\n', "line 3"),
        ('.SEGMENT DIGIT 0 ? "3"\n.COMMENT 3 1 1\n', "a digit without any stroke"),
        (".PEN_DOWN\n", "line 1: a stroke before any .SEGMENT"),
    ],
)
def test_malformed_text_is_refused_naming_the_line(text, message):
    with pytest.raises(DataError, match=message):
        parse_unipen(text, "f.tra")


def test_drawn_with_the_pages_pen_and_prepared_like_a_drawing():
    digits = parse_unipen(SAMPLE.decode())
    x = pendigits_inputs(digits)
    assert x.shape == (60, 784) and x.dtype == np.float32 and x.min() >= 0 and x.max() == 1
    thick = pendigits_inputs(digits, width=30)
    assert thick.sum() > 1.1 * x.sum()  # a thicker pen leaves more ink, even after fitting to 20 pixels
    rows = x.reshape(-1, 28, 28).sum(axis=2)  # (60, 28)
    assert (rows[:, :3].sum(axis=1) == 0).all() and (rows[:, -3:].sum(axis=1) == 0).all()  # MNIST margins


def test_the_writer_split_keeps_writers_apart():
    digits = parse_unipen(SAMPLE.decode())
    train, validation = digits.split("train"), digits.split("validation")
    assert set(train.writers) <= set(WRITER_SPLITS["train"]) and set(validation.writers) <= set(
        WRITER_SPLITS["validation"]
    )
    assert len(train) + len(validation) == len(digits) and not set(train.writers) & set(validation.writers)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        digits.split("test")


def test_download_takes_the_first_mirror_with_the_right_content(tmp_path, serve, dead_url):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(FIXTURES / "pendigits-sample.tra.Z", served / "good.Z")
    (served / "wrong.txt").write_bytes(b"not this file")
    base = serve(served)
    sha = hashlib.sha256(SAMPLE).hexdigest()
    target = tmp_path / "cache"
    path = download_pendigits(
        target, mirrors=(dead_url + "x.Z", base + "wrong.txt", base + "good.Z"), progress=False, sha256=sha
    )
    assert path == target / PENDIGITS_FILE and path.read_bytes() == SAMPLE
    assert sorted(p.name for p in target.iterdir()) == [PENDIGITS_FILE]  # no temporary file left


def test_download_failing_everywhere_lists_each_mirror_and_leaves_nothing(tmp_path, serve, dead_url):
    served = tmp_path / "served"
    served.mkdir()
    (served / "wrong.txt").write_bytes(b"not this file")
    base = serve(served)
    target = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        download_pendigits(
            target, mirrors=(dead_url + "x.Z", base + "wrong.txt", base + "gone"), progress=False
        )
    message = str(caught.value)
    assert "cannot connect" in message and "checksum mismatch" in message and "HTTP error 404" in message
    assert "DIGITNET_PENDIGITS" in message and list(target.iterdir()) == []


def test_a_named_folder_without_the_file_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_PENDIGITS", str(tmp_path))
    with pytest.raises(DataError, match="DIGITNET_PENDIGITS names .* holds no pendigits-orig.tra"):
        load_pendigits()
    with pytest.raises(DataError, match="the folder .* holds no pendigits-orig.tra"):
        load_pendigits(tmp_path / "elsewhere")


def test_a_file_with_other_content_is_refused(tmp_path):
    (tmp_path / PENDIGITS_FILE).write_bytes(SAMPLE)
    with pytest.raises(DataError, match="not the published training file"):
        load_pendigits(tmp_path)


@pytest.mark.skipif(
    not os.environ.get("DIGITNET_PENDIGITS"), reason="set DIGITNET_PENDIGITS to the pen digits' folder"
)
def test_the_real_training_file_has_30_writers_and_7494_digits():
    digits = load_pendigits()
    assert (
        hashlib.sha256((Path(os.environ["DIGITNET_PENDIGITS"]) / PENDIGITS_FILE).read_bytes()).hexdigest()
        == PENDIGITS_SHA256
    )
    assert len(digits) == 7494 and set(digits.writers) == set(range(1, 31))
    assert len(digits.split("train")) == 4996 and len(digits.split("validation")) == 2498
    assert np.bincount(digits.labels).tolist() == [780, 779, 780, 719, 780, 720, 720, 778, 719, 719]
