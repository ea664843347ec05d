"""The command line end to end on real MNIST: train, evaluate, info, predict, gradcheck, data."""

import json
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import run
from PIL import Image

from digitnet.cli import gradcheck as gradcheck_command
from digitnet.cli.main import COMMANDS, build_parser, main
from digitnet.modelfile import load_model, save_model
from digitnet.models import MLP_MODEL

FAST = "--hidden 32 --epochs 2 --lr 0.003 --train-size 10000 --validation-size 1000 --no-progress".split()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """A small model trained once by `digitnet train` for the other commands to use."""
    out = tmp_path_factory.mktemp("run")
    code = main(["train", *FAST, "--data", str(mnist_dir), "--out", str(out), "--json"])
    assert code == 0
    return out


def test_train_writes_model_and_metrics(trained, capsys):
    model = trained / "model.safetensors"
    record = json.loads((trained / "metrics.json").read_text())
    assert record["metrics"]["test_accuracy"] > 0.85
    assert record["config"]["hidden"] == [32] and len(record["history"]["epochs"]) == 2
    loaded = load_model(model)
    assert loaded.metrics["test_accuracy"] == record["metrics"]["test_accuracy"]
    assert loaded.training["train_size"] == 10000


def test_train_json_and_table_output(tmp_path, mnist_dir, capsys):
    code, out, err = run(
        capsys, "train", *FAST, "--data", str(mnist_dir), "--out", str(tmp_path / "a"), "--json"
    )
    assert code == 0
    metrics = json.loads(out)  # exactly one JSON object on stdout
    assert metrics["architecture"] == "784-32-10" and 0.85 < metrics["test_accuracy"] <= 1
    code, out, err = run(
        capsys, "train", *FAST, "--data", str(mnist_dir), "--out", str(tmp_path / "b"), "--threads", "1"
    )
    assert code == 0 and "test accuracy" in out and "784-32-10" in out


def test_train_refuses_to_overwrite_a_saved_model(trained, mnist_dir, capsys):
    before = (trained / "model.safetensors").read_bytes()
    code, out, err = run(capsys, "train", *FAST, "--data", str(mnist_dir), "--out", str(trained))
    assert code == 1 and "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (trained / "model.safetensors").read_bytes() == before


def test_evaluate(trained, mnist_dir, capsys):
    code, out, err = run(
        capsys, "evaluate", str(trained / "model.safetensors"), "--data", str(mnist_dir), "--json"
    )
    assert code == 0
    report = json.loads(out)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10_000
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / 10_000)
    assert len(report["per_class"]) == 10 and all(0 <= c["recall"] <= 1 for c in report["per_class"])
    code, out, err = run(capsys, "evaluate", str(trained / "model.safetensors"), "--data", str(mnist_dir))
    assert code == 0 and "precision" in out and "confusion matrix" in out


def test_info(trained, capsys):
    code, out, err = run(capsys, "info", str(trained / "model.safetensors"))
    assert code == 0 and "25,450" in out and "test accuracy" in out and "relu" in out
    code, out, err = run(capsys, "info", str(trained / "model.safetensors"), "--json")
    assert json.loads(out)["parameters"] == 25_450


def test_info_shows_control_characters_from_a_model_file_as_escapes(tmp_path, capsys):
    loaded = load_model(MLP_MODEL)
    path = save_model(
        tmp_path / "m.safetensors", loaded.model, metrics={"preset": "\x1b]0;title\x07\x1b[2J\rforged"}
    )
    code, out, err = run(capsys, "info", str(path))
    assert code == 0 and "\x1b" not in out and "\r" not in out
    assert "\\x1b]0;title\\x07\\x1b[2J\\rforged" in out  # shown, harmless


def save_digit(path, image28, scale=8, invert=True):
    """A 28x28 MNIST digit as a large photo-like image: dark ink on light paper."""
    pixels = (255 * (1 - image28 if invert else image28)).astype(np.uint8)
    Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR).save(path)


def test_predict_images_and_survive_bad_ones(trained, mnist, tmp_path, capsys):
    paths = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        save_digit(path, mnist.test.images[i])
        paths.append(str(path))
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    args = [
        "predict",
        str(trained / "model.safetensors"),
        paths[0],
        str(blank),
        str(text),
        *paths[1:],
        "--json",
    ]
    code, out, err = run(capsys, *args)
    assert code == 1  # some images failed, the others were still predicted
    results = json.loads(out)["predictions"]
    assert [r["file"] for r in results] == [paths[0], str(blank), str(text), *paths[1:]]
    assert "ink" in results[1]["error"] and "notes.jpg" in results[2]["error"]
    good = [r for r in results if "digit" in r]
    assert len(good) == 5 and all(abs(sum(r["probabilities"]) - 1) < 1e-4 for r in good)
    assert sum(r["digit"] == int(mnist.test.y[i]) for i, r in enumerate(good)) >= 4

    code, out, err = run(capsys, "predict", str(trained / "model.safetensors"), paths[0], "--show")
    assert code == 0 and "sure" in out and "@" in out


def test_gradcheck_passes(capsys):
    code, out, err = run(
        capsys, "gradcheck", "--hidden", "5,4", "--activation", "tanh", "--l2", "0.1", "--dropout", "0.2"
    )
    assert code == 0 and "passed" in out and "layers.0.W" in out
    code, out, err = run(capsys, "gradcheck", "--cost", "quadratic", "--json")
    assert json.loads(out)["passed"] is True


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--optimizer", "adam", "--nesterov"], "Nesterov"),
        (["evaluate", "missing.safetensors"], "no such model file"),
        (["info", "missing.safetensors"], "no such model file"),
        (["gradcheck", "--conv", "2", "--kernel-size", "4"], "--kernel-size must be odd"),
    ],
)
def test_bad_input_gets_a_clear_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--lr", "-1"], "--lr must be a positive finite number, got -1.0"),
        (["train", "--lr", "inf"], "--lr must be a positive finite number, got inf"),
        (["train", "--l2", "nan"], "--l2 must be a finite number >= 0, got nan"),
        (["train", "--clip-norm", "0"], "--clip-norm must be a positive finite number, got 0.0"),
        (["train", "--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_while_the_command_line_is_read(capsys, argv, message):
    """The settings table's range, checked as the flag is read: a usage error (2), before anything runs."""
    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2 and message in err and "Traceback" not in err


def test_a_network_too_large_for_memory_gets_a_clear_message(capsys, monkeypatch):
    """Whatever runs out of memory (`train --hidden 1000000000` asks NumPy for 2.85 TiB) is said in one
    line, never a traceback."""

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.85 TiB for an array with shape (784, 1000000000)")

    monkeypatch.setattr(gradcheck_command, "check_gradients", exhausted)
    code, out, err = run(capsys, "gradcheck")
    assert code == 1 and "out of memory (Unable to allocate 2.85 TiB" in err and "Traceback" not in err


def test_a_model_whose_outputs_overflow_is_refused_not_read(tmp_path, mnist_dir, capsys):
    """Finite weights of 3e38 load (nothing is NaN), but every output overflows: no answer is printed."""
    loaded = load_model(MLP_MODEL)
    loaded.model.layers[0].params["W"][...] = 3e38
    path = save_model(tmp_path / "huge.safetensors", loaded.model, metrics=loaded.metrics)
    image = tmp_path / "bar.png"
    Image.fromarray(np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))).save(image)
    for argv in (["predict", str(path), str(image)], ["evaluate", str(path), "--data", str(mnist_dir)]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and "outputs are NaN or infinite" in err and "nan" not in out, argv


def test_list_presets(capsys):
    code, out, err = run(capsys, "train", "--list-presets")
    assert code == 0 and "seeds" in out and "784-16-16-10" in out


def test_data_command_finds_the_files(mnist_dir, capsys):
    code, out, err = run(capsys, "data", "--data", str(mnist_dir), "--json")
    assert code == 0 and json.loads(out)["found"] == str(mnist_dir)


def command_names() -> list[str]:
    """Every command the parser knows, as a user types it (``import`` lives in ``import_onnx.py``)."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return list(subparsers.choices)


def test_every_command_module_is_a_command():
    assert len(command_names()) == len(COMMANDS)


@pytest.mark.parametrize("command", command_names())
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: digitnet " + command in capsys.readouterr().out


def test_installed_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "digitnet", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("digitnet ")


def test_config_from_a_previous_run_reproduces_it_bit_for_bit(trained, mnist_dir, tmp_path, capsys):
    again = tmp_path / "again"
    code, out, err = run(
        capsys,
        "train",
        "--config",
        str(trained / "metrics.json"),
        "--data",
        str(mnist_dir),
        "--out",
        str(again),
        "--no-progress",
        "--json",
    )
    assert code == 0
    first = load_model(trained / "model.safetensors").model.named_params()
    second = load_model(again / "model.safetensors").model.named_params()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    code, out, err = run(
        capsys,
        "train",
        "--config",
        str(trained / "model.safetensors"),
        "--epochs",
        "1",
        "--data",
        str(mnist_dir),
        "--out",
        str(tmp_path / "changed"),
        "--no-progress",
        "--json",
    )
    assert code == 0 and json.loads(out)["epochs_trained"] == 1


EXPERIMENT_NAMES = {
    "canon",
    "noise",
    "reject",
    "dream",
    "vanishing",
    "cost-lab",
    "lr-sweep",
    "overfit",
    "imbalance",
    "robustness",
}


def test_experiment_list_and_unknown_name(capsys):
    code, out, err = run(capsys, "experiment", "--list")
    assert code == 0 and EXPERIMENT_NAMES <= {line.split()[0] for line in out.splitlines()[2:]}
    code, out, err = run(capsys, "experiment", "nope")
    assert code == 1 and "unknown experiment 'nope'" in err and "Traceback" not in err


def test_experiment_runs_from_the_command_line(mnist_dir, tmp_path, capsys):
    code, out, err = run(
        capsys,
        "experiment",
        "vanishing",
        "--quick",
        "--out",
        str(tmp_path),
        "--data",
        str(mnist_dir),
        "--no-progress",
        "--json",
    )
    assert code == 0
    record = json.loads(out)
    assert record["experiment"] == "vanishing" and all(p.endswith(".png") for p in record["figures"])
    assert (tmp_path / "results.json").is_file() and (tmp_path / "summary.txt").is_file()


def test_a_convolutional_network_trains_saves_and_predicts(mnist_dir, mnist, tmp_path, capsys):
    out = tmp_path / "cnn"
    code, stdout, err = run(
        capsys,
        "train",
        "--conv",
        "4/8",
        "--kernel-size",
        "3",
        "--batch-norm",
        "--hidden",
        "16",
        "--augment",
        "affine",
        "--epochs",
        "2",
        "--lr",
        "0.003",
        "--train-size",
        "3000",
        "--validation-size",
        "500",
        "--data",
        str(mnist_dir),
        "--out",
        str(out),
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    metrics = json.loads(stdout)
    assert metrics["architecture"] == "28x28-c4-pool-c8-pool-16-10" and metrics["test_accuracy"] > 0.5
    loaded = load_model(out / "model.safetensors")
    assert loaded.model.input_shape == (1, 28, 28) and loaded.training["augment"] == "affine"
    code, stdout, err = run(
        capsys, "evaluate", str(out / "model.safetensors"), "--data", str(mnist_dir), "--json"
    )
    assert code == 0 and json.loads(stdout)["accuracy"] == pytest.approx(metrics["test_accuracy"])
    image = tmp_path / "seven.png"
    Image.fromarray((255 * (1 - mnist.test.x[0].reshape(28, 28))).astype(np.uint8)).save(image)
    code, stdout, err = run(capsys, "predict", str(out / "model.safetensors"), str(image))
    assert code == 0 and "sure" in stdout


@pytest.mark.parametrize("mode", [[], ["--inference"]], ids=["training", "inference"])
def test_gradcheck_of_a_convolutional_network_with_batch_norm(capsys, mode):
    code, out, err = run(
        capsys, "gradcheck", "--conv", "2/3", "--batch-norm", "--hidden", "5", "--json", *mode
    )
    result = json.loads(out)
    assert code == 0 and result["passed"] and "layers.0.W" in result["errors"]
    assert result["network"]["input_shape"] == [1, 8, 8]


def test_bad_convolution_settings_get_a_clear_message(capsys):
    with pytest.raises(SystemExit):  # argparse rejects the value itself
        main(["train", "--conv", "6/x"])
    assert "--conv must be convolutional stages such as 6/16 or 32x32/64x64" in capsys.readouterr().err
    for argv, message in [
        (["train", "--conv", "6/16", "--kernel-size", "4"], "kernel_size must be an odd positive integer"),
        (["train", "--conv", "1/1/1/1/1"], "at most 4 stages"),
        (["train", "--augment", "sideways"], "invalid choice"),
    ]:
        if "--augment" in argv:
            with pytest.raises(SystemExit):
                main(argv)
            assert message in capsys.readouterr().err
            continue
        code, out, err = run(capsys, *argv)
        assert code == 1 and message in err and "Traceback" not in err
