"""Shared by the server tests: ``digitnet serve`` in a subprocess, or an app in uvicorn, on a free port."""

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(env=None, args=(), port=None):
    """Run ``digitnet serve *args`` until the block ends; yields (url, process). Fails after 10 s silent.

    ``port``: where to listen, for a test that must name it in ``args`` too; default: a free one."""
    port = port or free_port()
    command = [sys.executable, "-m", "digitnet", "serve", "--port", str(port), *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "/api/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("digitnet serve did not answer within 10 s")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def start_server():
    """The context manager ``serving(env=None, args=(), port=None)`` -> (url, process), for tests needing a
    server."""
    return serving


@contextmanager
def serving_app(app, **connections):
    """Serve the ASGI ``app`` as ``digitnet serve`` does (uvicorn with the connection guards), in a thread of
    this process, until the block ends; yields its url. ``connections``: ``server_config``'s settings.

    Unlike TestClient, requests really run concurrently, and the app can be monkeypatched.
    """
    import uvicorn

    from digitnet.serve.connections import server_config

    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning", **connections))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start within 10 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def start_app():
    """The context manager ``serving_app(app, **connections)`` -> url: an app served as ``digitnet serve``
    does, in a thread of the tests."""
    return serving_app


@pytest.fixture(scope="session")
def pick_port():
    """``free_port()`` -> a port nothing listens on, for a test that must know it before serving."""
    return free_port


def received_until_closed(s: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends on ``s`` until it closes it, and how long that took; fails the test if
    the connection is still open after ``seconds``."""
    s.settimeout(seconds)
    started, received = time.monotonic(), b""
    try:
        while chunk := s.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open over {seconds} s; received {received[:300]!r}")
    return received, time.monotonic() - started


@pytest.fixture(scope="session")
def until_closed():
    """``received_until_closed(socket, seconds)`` -> (bytes, seconds): read until the server closes."""
    return received_until_closed


def make_training_app(runs, mnist_dir, remote_training=True):
    """The server on the bundled MLP with the training view, saving into ``runs``, reading ``mnist_dir``.
    ``remote_training``: TestClient's requests come from "testclient", not this machine's address."""
    from digitnet.modelfile import load_model
    from digitnet.models import MLP_MODEL
    from digitnet.serve import create_app

    return create_app(
        {"mlp": load_model(MLP_MODEL)},
        "mlp",
        allowed_hosts=["testserver"],
        runs_dir=runs,
        data_dir=str(mnist_dir),
        remote_training=remote_training,
    )


@pytest.fixture(scope="session")
def training_app():
    """``make_training_app(runs, mnist_dir, remote_training=True)`` -> the app with the training view."""
    return make_training_app
