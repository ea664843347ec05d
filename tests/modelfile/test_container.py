"""The safetensors container of a model file: header length, JSON nesting and the tensor table."""

import json
import re
import struct

import numpy as np
import pytest
import safetensors.numpy
from modelfile_helpers import load_measured, make_model, read_header

from digitnet.errors import ModelFileError
from digitnet.modelfile import load_model, save_model


@pytest.mark.parametrize("keep", [4, 100, -10])
def test_truncated_file(tmp_path, keep):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep > 0 else data[:keep])
    with pytest.raises(ModelFileError, match="m.safetensors"):
        load_model(path)


@pytest.mark.parametrize("where", ["safetensors", "digitnet"])
def test_deep_nesting_is_refused_without_recursion(tmp_path, where):
    nested = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.safetensors"
    if where == "safetensors":
        blob = ('{"__metadata__": {"digitnet": "{}"}, "x": ' + nested + "}").encode()
        path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    else:
        path.write_bytes(
            safetensors.numpy.save({"w": np.zeros(3, np.float32)}, metadata={"digitnet": nested})
        )
    message, seconds, _ = load_measured(path)
    assert re.search(r"JSON nested 100,00\d deep; at most 32", message)


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h["layers.0.W"].update(dtype="F64"), "has dtype 'F64'; digitnet writes only F32"),
        (lambda h: h["layers.0.W"].update(shape=[784, -12]), "is not a list of at most 8 integers >= 0"),
        (
            lambda h: h["layers.0.W"].update(shape=[10**12, 10**12]),
            "needs 4,000,000,000,000,000,000,000,000 bytes",
        ),
        (
            lambda h: h["layers.0.W"].update(data_offsets=[0, 4 * 10**12]),
            "data_offsets span 4,000,000,000,000",
        ),
        (lambda h: h["layers.0.b"].update(data_offsets=[8, 56]), "overlaps the tensor stored before it"),
        (
            lambda h: h.update(extra={"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}),
            "overlaps",
        ),
        (lambda h: h["__metadata__"].update(digitnet=7), "__metadata__.*must map names to strings"),
    ],
)
def test_the_tensor_table_is_checked_against_the_file(tmp_path, edit, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data, n, header = read_header(path)
    edit(header)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data[8 + n :])
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**40, 10**8, 1])
def test_header_length_is_bounded_by_the_file(tmp_path, length):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", length) + data[8:])
    with pytest.raises(ModelFileError, match="the header length field says"):
        load_model(path)
