"""Switching a test's process between the two paths, with the kernels compiled once per test session."""

import pytest

from digitnet.kernels import choice


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One cache folder for these tests: the kernels are compiled once, not once per test."""
    return tmp_path_factory.mktemp("kernels")


@pytest.fixture
def on_path(monkeypatch, built):
    """A function that switches this process to a path ("native" or "numpy") for what follows; the
    process decides again afterwards."""

    def switch(path: str) -> None:
        monkeypatch.setenv("DIGITNET_KERNELS_CACHE", str(built))
        monkeypatch.setenv("DIGITNET_KERNELS", path)
        choice._forget()

    yield switch
    choice._forget()
