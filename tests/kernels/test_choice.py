"""Choosing the path once per process, building the kernels, and running without a C compiler.

What a user meets: ``DIGITNET_KERNELS`` (native, numpy, or a wrong value), a machine without a compiler
(the NumPy path and one note), a damaged library in the cache (rebuilt), several processes building at
once (one library, never half of one), and a training step that agrees on the two paths.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet import kernels
from digitnet.errors import KernelsError
from digitnet.kernels import build, choice
from digitnet.nn.gradcheck import check_gradients
from digitnet.training.config import TrainConfig
from digitnet.training.runs import build_model, make_optimizer

HAS_COMPILER = build.compiler() is not None
needs_compiler = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler here")


def test_numpy_asked_for_runs_no_kernel(on_path):
    on_path("numpy")
    assert kernels.native() is None and kernels.path_name() == "numpy"
    assert kernels.description() == "NumPy layers only (DIGITNET_KERNELS=numpy)"
    assert kernels.environment() == {"DIGITNET_KERNELS": "numpy"}


def test_a_value_that_names_no_path_is_refused(on_path):
    on_path("fast")
    with pytest.raises(KernelsError, match="DIGITNET_KERNELS='fast' names no path; set it to native"):
        kernels.native()


@pytest.fixture
def no_compiler(monkeypatch, tmp_path):
    """A process that finds no C compiler (PATH without one) and an empty cache folder."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("DIGITNET_KERNELS", raising=False)  # the default, whatever the caller's shell says
    monkeypatch.setenv("DIGITNET_KERNELS_CACHE", str(tmp_path / "cache"))
    choice._forget()
    yield
    choice._forget()


def test_without_a_compiler_the_numpy_path_runs_with_one_note(no_compiler, monkeypatch, capsys):
    monkeypatch.delenv("DIGITNET_KERNELS", raising=False)
    assert kernels.native() is None and kernels.path_name() == "numpy"
    assert kernels.native() is None  # decided once: no second note
    said = capsys.readouterr().err
    assert said.count("digitnet: note: the NumPy path runs") == 1
    assert "no C compiler (no cc, gcc or clang on PATH)" in said and "apt-get install gcc" in said
    assert "no C compiler" in kernels.description()


def test_native_asked_for_without_a_compiler_is_an_error(no_compiler, monkeypatch):
    monkeypatch.setenv("DIGITNET_KERNELS", "native")
    with pytest.raises(KernelsError, match="cannot be used here: no C compiler.*set DIGITNET_KERNELS=numpy"):
        kernels.native()


def test_a_compiler_named_by_cc_that_does_not_exist_is_said(no_compiler, monkeypatch, capsys):
    monkeypatch.setenv("CC", "no-such-cc --quiet")
    assert kernels.native() is None
    assert "CC='no-such-cc --quiet' is not a program on PATH" in capsys.readouterr().err


def load_in_a_new_process(cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DIGITNET_KERNELS_CACHE": str(cache), "DIGITNET_KERNELS": "native"}
    script = "from digitnet import kernels; print(kernels.native().path)"
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


@needs_compiler
def test_a_damaged_library_in_the_cache_is_built_again(tmp_path):
    first = load_in_a_new_process(tmp_path)
    path = Path(first.stdout.strip())
    path.unlink()
    path.write_bytes(b"\x7fELF half a library")  # what a full disk or a bad copy leaves
    again = load_in_a_new_process(tmp_path)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()) == path and path.stat().st_size > 1000


@needs_compiler
def test_processes_starting_at_once_build_one_library(tmp_path):
    """Four processes with an empty cache folder, released together: each loads a whole library, and
    there is one library and no temporary file left."""
    env = {**os.environ, "DIGITNET_KERNELS_CACHE": str(tmp_path / "cache"), "DIGITNET_KERNELS": "native"}
    go = tmp_path / "go"
    script = (
        "import time, pathlib\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.005)\n"
        "from digitnet import kernels\n"
        "print(kernels.native().path)\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()
    paths = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(paths) == 1
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files == [".build.lock", Path(paths.pop()).name]


@needs_compiler
def test_workers_load_the_library_this_process_loaded_without_a_compiler(on_path, tmp_path):
    """A training's worker gets this process's environment(): it loads the very same file, and needs no
    compiler for it (PATH without one, and an empty cache folder of its own)."""
    on_path("native")
    env = {
        **os.environ,
        **kernels.environment(),
        "PATH": str(tmp_path / "empty-bin"),
        "DIGITNET_KERNELS_CACHE": str(tmp_path / "empty-cache"),
    }
    script = "from digitnet import kernels; print(kernels.native().path)"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == kernels.native().path
    assert not (tmp_path / "empty-cache").exists()


@needs_compiler
def test_the_built_library_is_readable_by_everyone_sharing_the_cache(on_path):
    on_path("native")
    assert kernels.native().path.stat().st_mode & 0o444 == 0o444


def cnn_step(on_path, path: str, dtype=np.float32):
    """One training step of a small CNN with every kernel in it (conv, batch norm, max-pooling, dropout,
    softmax with cross-entropy, SGD with momentum); the parameters after it. (Adam's first step is about
    ±η for every gradient, however tiny, so rounding can flip it: its kernel is compared
    with its twin on the same gradients instead, in test_twins.py.)"""
    on_path(path)
    config = TrainConfig(
        conv=((4,), (6,)),
        kernel_size=3,
        batch_norm=True,
        hidden=(16,),
        dropout=0.25,
        seed=3,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
    )
    model = build_model(config)
    rng = np.random.default_rng(0)
    x = rng.random((8, 784), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    model.train_step(model.as_input(x), y, rng=np.random.default_rng(1))
    parameters = model.parameters
    make_optimizer(config).step([parameters.values], [parameters.grads])
    return parameters.values.copy()


@needs_compiler
def test_one_training_step_agrees_on_the_two_paths(on_path):
    native, numpy = cnn_step(on_path, "native"), cnn_step(on_path, "numpy")
    np.testing.assert_allclose(native, numpy, rtol=1e-4, atol=1e-6)


@needs_compiler
def test_the_same_path_gives_the_same_bits(on_path):
    np.testing.assert_array_equal(cnn_step(on_path, "native"), cnn_step(on_path, "native"))


@needs_compiler
def test_gradients_through_the_kernels_pass_the_finite_difference_check(on_path):
    on_path("native")
    model = build_model(TrainConfig(conv=((3,), (4,)), kernel_size=3, batch_norm=True, hidden=(8,), seed=1))
    rng = np.random.default_rng(2)
    errors = check_gradients(model, rng.random((3, 784)), rng.integers(0, 10, 3))
    assert max(errors.values()) < 1e-6, errors
