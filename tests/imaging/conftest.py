"""Real MNIST test digits for the imaging tests, when ``DIGITNET_DATA`` names a folder holding them."""

import os
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import read_idx


def mnist_test_file(name: str) -> np.ndarray:
    """One of the MNIST test files from ``$DIGITNET_DATA``, read by digitnet's IDX reader; skip without it."""
    folder = os.environ.get("DIGITNET_DATA")
    if not folder:
        pytest.skip(f"DIGITNET_DATA is not set; it names the folder holding {name}")
    path = Path(folder) / name
    if not path.exists():
        pytest.skip(f"{path} does not exist")
    return read_idx(path)


@pytest.fixture(scope="session")
def mnist_test_images() -> np.ndarray:
    """The 10,000 MNIST test digits, ``(10000, 28, 28)`` uint8."""
    return mnist_test_file("t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="session")
def mnist_test_labels() -> np.ndarray:
    """The 10,000 MNIST test labels, ``(10000,)`` uint8, in the order of :func:`mnist_test_images`."""
    return mnist_test_file("t10k-labels-idx1-ubyte.gz")
