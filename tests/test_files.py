"""Files a user names are looked at before they are opened: a FIFO, a device or a folder is refused by
name at once (never a hang), and a file larger than its kind allows is refused before it is read."""

import os
from pathlib import Path

import pytest

from digitnet.errors import DigitnetError
from digitnet.files import file_problem, read_bounded


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_what_a_path_is_is_told_without_opening_it(tmp_path, fifo):
    regular = tmp_path / "a.json"
    regular.write_text("{}")
    assert file_problem(regular) is None
    assert file_problem(tmp_path / "missing") == "does not exist"
    assert file_problem(tmp_path).startswith("is a folder")
    assert file_problem(fifo).startswith("is a named pipe (FIFO)")
    assert file_problem("/dev/zero").startswith("is a device")


def test_a_bounded_read_refuses_what_is_too_large_before_reading_it(tmp_path, fifo):
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"x" * 10)
    large.write_bytes(b"x" * 1001)
    assert read_bounded(small, what="thing", limit=1000) == b"x" * 10
    with pytest.raises(DigitnetError, match="holds 1,001 bytes, more than a thing may \\(1,000\\)"):
        read_bounded(large, what="thing", limit=1000)
    for path, reason in [(fifo, "named pipe"), (Path("/dev/zero"), "device"), (tmp_path, "folder")]:
        with pytest.raises(DigitnetError, match=reason):
            read_bounded(path, what="thing", limit=1000)
