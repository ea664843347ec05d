"""Fixtures for the data tests: fake datasets and local mirrors (the real MNIST folder and the isolated
cache come from tests/conftest.py).

Nothing here reaches the internet: mirrors are HTTP servers on 127.0.0.1.
"""

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import write_idx
from digitnet.data.download import MNIST_FILES


def make_fake_mnist(folder: Path, n_train: int = 12, n_test: int = 5, *, seed: int = 0, **overrides) -> Path:
    """Write four tiny MNIST-like files into ``folder``; ``overrides`` replace arrays by file name."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return folder


@pytest.fixture
def write_fake_mnist():
    """The function ``make_fake_mnist(folder, n_train=12, n_test=5, *, seed=0, **overrides)``."""
    return make_fake_mnist


@pytest.fixture
def fake_mnist(tmp_path) -> Path:
    """A folder holding tiny MNIST-like files: 12 training and 5 test images."""
    return make_fake_mnist(tmp_path / "fake")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output clean
        pass


@pytest.fixture
def serve():
    """Factory: serve a folder over HTTP on 127.0.0.1 and return its base URL (ending in /)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def mirror_folder(tmp_path_factory, mnist_dir) -> Path:
    """A temporary folder holding copies of the four real MNIST .gz files, to serve as a mirror."""
    folder = tmp_path_factory.mktemp("mirror")
    for name in MNIST_FILES:
        shutil.copyfile(mnist_dir / name, folder / name)
    return folder


@pytest.fixture
def dead_url():
    """A base URL on a local port where nothing listens: connections are refused at once. The port stays
    bound (not listening) for the whole test, so no server the test starts can be given it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"


@pytest.fixture
def silent_url():
    """A base URL whose server accepts connections but never answers: requests time out."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as s:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"
