"""Fixtures for every test: the real MNIST (through $DIGITNET_DATA) and a per-user cache kept in tmp_path;
and the ``slow`` mark on every test that needs the real MNIST."""

import os
from pathlib import Path

import platformdirs
import pytest

from digitnet.data import load_mnist
from digitnet.data.download import MNIST_FILES

# The fixtures that hand a test real MNIST files: ``mnist_dir`` (and so ``mnist`` and every fixture built on
# them) and the imaging tests' ``mnist_test_images`` / ``mnist_test_labels``, which read $DIGITNET_DATA.
REAL_MNIST_FIXTURES = frozenset({"mnist_dir", "mnist_test_images", "mnist_test_labels"})


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that needs real MNIST, so ``pytest -m "not slow"`` leaves them all out.

    ``item.fixturenames`` is the whole closure, so a test reaching ``mnist_dir`` through ``mnist``,
    ``quick_run`` or any other fixture is marked too, wherever it lives under tests/.
    """
    for item in items:
        if REAL_MNIST_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture
def unsearchable(monkeypatch):
    """``unsearchable(folder)`` makes ``folder`` behave as a folder without search (x) permission: every
    ``os.stat`` of a path inside it raises PermissionError (root would pass a real chmod)."""
    real_stat = os.stat

    def lock(folder: Path) -> None:
        def refuse(path, *args, **kwargs):
            if str(path).startswith(str(folder) + os.sep):
                raise PermissionError(13, "Permission denied", str(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", refuse)

    return lock
