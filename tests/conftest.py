"""Fixtures for every test: the real MNIST (through $DIGITNET_DATA) and a per-user cache kept in tmp_path."""

import os
from pathlib import Path

import platformdirs
import pytest

from digitnet.data import load_mnist
from digitnet.data.download import MNIST_FILES


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the real MNIST files, from $DIGITNET_DATA; skip when it is not set."""
    value = os.environ.get("DIGITNET_DATA")
    if not value:
        pytest.skip("set DIGITNET_DATA to a folder holding the four MNIST .gz files to run this")
    folder = Path(value).resolve()
    missing = [name for name in MNIST_FILES if not (folder / name).is_file()]
    if missing:
        pytest.skip(f"DIGITNET_DATA={value} lacks {', '.join(missing)}")
    return folder


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch) -> Path:
    """Point platformdirs' per-user cache into tmp_path, so no test reads or fills the real one.

    Returns the folder where MNIST is cached: ``<cache>/digitnet/mnist``.
    """
    root = tmp_path / "user-cache"
    monkeypatch.setattr(platformdirs, "user_cache_path", lambda appname=None, *a, **k: root / appname)
    return root / "digitnet" / "mnist"


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """Real MNIST, loaded once per test session: 50,000 train, 10,000 validation, 10,000 test."""
    return load_mnist(mnist_dir, progress=False)
