"""Careless inputs to the report and the server get a reason, not a traceback or a silent surprise."""

import os

import pytest
from cli_helpers import run

from digitnet.modelfile import load_model, save_model
from digitnet.training.config import TrainConfig
from digitnet.training.runs import build_model


@pytest.fixture
def three_classes(tmp_path):
    """A model that reads 784 pixels into 3 classes: a file digitnet wrote, but no digit reader."""
    return save_model(tmp_path / "three.safetensors", build_model(TrainConfig(hidden=(4,)), classes=3))


def test_the_report_refuses_a_model_that_is_no_digit_reader_before_any_work(three_classes, tmp_path, capsys):
    out = tmp_path / "report"
    code, _, err = run(capsys, "report", three_classes, "--out", out)
    assert code == 1 and "is not a digit reader" in err and "gives 3 classes" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("digits", ["mnist", "sketches"])
def test_evaluate_refuses_a_model_that_is_no_digit_reader_before_reading_digits(
    three_classes, capsys, mnist_dir, digits
):
    """On MNIST this said "cannot reshape array of size 30 into shape (3,3)"."""
    code, _, err = run(capsys, "evaluate", three_classes, "--digits", digits, "--data", mnist_dir)
    assert code == 1 and "is not a digit reader" in err and "gives 3 classes" in err


def test_the_server_refuses_to_serve_a_model_that_is_no_digit_reader(three_classes):
    from digitnet.serve import create_app

    with pytest.raises(ValueError, match="the model 'odd' is not a digit reader"):
        create_app({"odd": load_model(three_classes)}, "odd")


@pytest.mark.parametrize("host", ["", "   "])
def test_an_empty_host_is_refused_not_taken_as_every_interface(capsys, host):
    with pytest.raises(SystemExit):
        run(capsys, "serve", "--host", host)
    assert "--host must name an address" in capsys.readouterr().err


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["info", "{fifo}"], "named pipe"),
        (["train", "--config", "{fifo}", "--out", "{tmp}/run"], "named pipe"),
        (["predict", "cnn", "{fifo}"], "named pipe"),
        (["predict", "cnn", "/dev/zero"], "device"),
        (["sweep", "--file", "{fifo}", "--out", "{tmp}/sweep"], "named pipe"),
        (["sweep", "--file", "/dev/zero", "--out", "{tmp}/sweep"], "device"),
        (["evaluate", "/dev/zero"], "device"),
    ],
)
def test_every_door_refuses_a_fifo_or_a_device_at_once(capsys, tmp_path, fifo, argv, reason):
    """Each of these hung (a FIFO) or read until memory ran out (/dev/zero) before."""
    argv = [a.format(fifo=fifo, tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 1 and reason in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["train", "--config", "{deep}"], ["sweep", "--file", "{deep}"]])
def test_json_nested_beyond_any_record_is_refused_without_recursing(capsys, tmp_path, argv):
    """JSON 100,000 arrays deep made Python's parser raise RecursionError: a traceback."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    code, _, err = run(capsys, *[a.format(deep=deep) for a in argv], "--out", tmp_path / "out")
    assert code == 1 and "JSON nested 100,000 deep" in err and "Traceback" not in err


def test_a_sweep_folder_whose_record_nests_deep_or_is_a_fifo_is_not_fatal(tmp_path):
    from digitnet.sweeps.runner import _check_same_sweep
    from digitnet.sweeps.spec import SweepSpec

    (tmp_path / "sweep.json").write_text("[" * 100_000)
    _check_same_sweep(tmp_path, SweepSpec())  # unreadable: nothing to keep, the sweep may go on
    (tmp_path / "sweep.json").unlink()
    os.mkfifo(tmp_path / "sweep.json")
    _check_same_sweep(tmp_path, SweepSpec())  # and at once, not waiting for a writer


def test_a_sweep_file_over_a_megabyte_is_refused_unread(capsys, tmp_path):
    huge = tmp_path / "sweep.json"
    huge.write_text('{"grid": {"lr": [' + "0.001, " * 200_000 + "0.01]}}")
    code, _, err = run(capsys, "sweep", "--file", huge, "--out", tmp_path / "out")
    assert code == 1 and "more than a sweep file (JSON or TOML) may (1,048,576)" in err
    binary = tmp_path / "sweep.toml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    code, _, err = run(capsys, "sweep", "--file", binary, "--out", tmp_path / "out")
    assert code == 1 and "is not UTF-8 text" in err


def test_more_sweep_processes_than_cores_are_said_out_loud(capsys, tmp_path, mnist_dir):
    from digitnet.sweeps.backends import available_cores

    many = available_cores() + 7
    argv = ["sweep", "--set", "train_size=200", "--set", "validation_size=100", "--set", "epochs=1"]
    argv += ["--set", "hidden=8", "--processes", many, "--data", mnist_dir, "--out", tmp_path / "s"]
    code, _, err = run(capsys, *argv, "--no-progress")
    assert code == 0 and f"note: --processes {many} on {available_cores()} cores" in err
