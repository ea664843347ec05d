"""Real MNIST test digits for the imaging tests, when ``DIGITNET_DATA`` names a folder holding them."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist_test_images() -> np.ndarray:
    """The 10,000 MNIST test digits, ``(10000, 28, 28)`` uint8, read straight from the IDX file."""
    folder = os.environ.get("DIGITNET_DATA")
    if not folder:
        pytest.skip("DIGITNET_DATA is not set; it names the folder holding t10k-images-idx3-ubyte.gz")
    path = Path(folder) / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    with gzip.open(path) as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 2051:
        raise ValueError(f"{path}: not an IDX image file (bad magic number)")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


@pytest.fixture(scope="session")
def mnist_test_labels() -> np.ndarray:
    """The 10,000 MNIST test labels, ``(10000,)`` uint8, in the order of :func:`mnist_test_images`."""
    folder = os.environ.get("DIGITNET_DATA")
    if not folder:
        pytest.skip("DIGITNET_DATA is not set; it names the folder holding t10k-labels-idx1-ubyte.gz")
    path = Path(folder) / "t10k-labels-idx1-ubyte.gz"
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    with gzip.open(path) as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 2049:
        raise ValueError(f"{path}: not an IDX label file (bad magic number)")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)
