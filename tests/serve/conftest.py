"""Shared by the server tests: start ``digitnet serve`` in a subprocess on a free port."""

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(env=None):
    """Run ``digitnet serve`` until the block ends; yields (url, process). Fails after 10 s of silence."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
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
    """The context manager ``serving(env=None)`` -> (url, process), for tests that need a real server."""
    return serving
