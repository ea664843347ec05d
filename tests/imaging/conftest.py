"""Real MNIST test digits for the imaging tests, when ``DIGITNET_DATA`` names a folder holding them; and
warnings made errors in the order of filters a real process has."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import read_idx
from digitnet.imaging import decode


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


@pytest.fixture
def strict_warnings():
    """Every warning an error, as in a process started with ``python -W error``, where the filter that
    importing :mod:`digitnet.imaging.decode` adds comes in front of that option: pytest set the import's
    filter aside after collecting the tests, so it is added again here, in front."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode._install_warning_filter()
        yield
