"""Helpers shared by the model-file tests: a small model, and files read, crafted and loaded under measure."""

import json
import struct
import time
import tracemalloc
from pathlib import Path

import pytest
import safetensors.numpy

import digitnet.models
from digitnet.errors import ModelFileError
from digitnet.modelfile import content_digest, load_model
from digitnet.nn import Dense, Dropout, Sequential, Sigmoid, Tanh

BUNDLED = Path(digitnet.models.__file__).parent


def make_model(seed=0):
    return Sequential([Dense(12), Tanh(), Dropout(0.3), Dense(10), Sigmoid()], cost="quadratic", rng=seed)


def read_header(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return data, n, json.loads(data[8 : 8 + n])


def resaved(source, target, edit_header=None, edit_tensors=None):
    """``source`` with its digitnet header and tensors edited and the checksum recomputed, as anyone can."""
    tensors = safetensors.numpy.load_file(source)
    with safetensors.safe_open(source, "numpy") as f:
        header = json.loads(f.metadata()["digitnet"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        edit_header(header)
    header["sha256"] = content_digest(header, tensors)
    target.write_bytes(safetensors.numpy.save(tensors, metadata={"digitnet": json.dumps(header)}))
    return target


def load_measured(path):
    """load_model(path) -> (the ModelFileError's message, seconds, peak bytes allocated)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as info:
            load_model(path)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return str(info.value), seconds, peak
