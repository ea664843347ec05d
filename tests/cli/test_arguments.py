"""Command-line values refused by the flag's name, bundled model names, run folders, and a bare experiment."""

import json
import shutil

import pytest
from cli_helpers import run
from PIL import Image, ImageDraw

from digitnet.cli.main import main
from digitnet.cli.train import recorded_config
from digitnet.models import bundled_models
from digitnet.training.presets import get_preset


def usage_error(capsys, *argv) -> str:
    """Run a command line argparse must refuse; returns its message."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
        (["train", "--epochs", "0"], "--epochs must be an integer from 1 to 100000, got 0"),
        (["train", "--batch-size", "ten"], "--batch-size must be an integer from 1 to 60000, got 'ten'"),
        (["train", "--workers", "0"], "--workers must be an integer from 1 to 64, got 0"),
        (["train", "--workers", "65"], "--workers must be an integer from 1 to 64, got 65"),
        (["train", "--threads", "0"], "--threads must be a positive integer, got 0"),
        (["train", "--patience", "0"], "--patience must be an integer from 1 to 100000, got 0"),
        (["train", "--train-size", "-5"], "--train-size must be a positive integer, got -5"),
        (
            ["train", "--validation-size", "60000"],
            "--validation-size must be an integer from 0 to 59999, got 60000",
        ),
        (["train", "--kernel-size", "2.5"], "--kernel-size must be a positive integer, got '2.5'"),
        (["gradcheck", "--classes", "1"], "--classes must be an integer of at least 2, got 1"),
        (["gradcheck", "--batch", "0"], "--batch must be a positive integer, got 0"),
        (["gradcheck", "--seed", "-3"], "--seed must be a non-negative integer, got -3"),
        (["experiment", "vanishing", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    ],
)
def test_integer_flags_are_refused_by_name(capsys, argv, message):
    err = usage_error(capsys, *argv)
    assert (
        f"digitnet {argv[0]}: error: {message}" in err
    )  # once, without argparse's "argument --seed:" prefix
    assert "Traceback" not in err


def test_an_empty_hidden_value_is_refused_not_taken_as_none(capsys):
    err = usage_error(capsys, "train", "--hidden", "")
    assert "got '' (an empty value; for no hidden layer say none)" in err


@pytest.mark.parametrize("command", [["train"], ["report", "default"], ["experiment", "vanishing"]])
def test_an_empty_output_folder_is_refused_not_taken_as_the_current_one(capsys, command):
    err = usage_error(capsys, *command, "--out", "")
    assert "--out must name a folder, got an empty value" in err and "Traceback" not in err


def test_a_bare_experiment_asks_for_a_name(capsys):
    code, out, err = run(capsys, "experiment")
    assert code == 2 and "name the experiment to run" in err
    assert "vanishing" in err and "canon" in err  # the list of experiments


def test_report_takes_one_model(capsys, tmp_path):
    err = usage_error(
        capsys, "report", tmp_path / "a" / "model.safetensors", tmp_path / "b" / "model.safetensors"
    )
    assert (
        "give one model, got 2" in err and "runs/default-*/" in err and "digitnet report runs/default-" in err
    )


# --- what a MODEL argument may be ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "lenet5"])
def test_bundled_models_by_name(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # no file called default or lenet5 here
    code, out, err = run(capsys, "info", name, "--json")
    assert code == 0, err
    assert json.loads(out)["parameters"] > 0
    image = tmp_path / "one.png"
    picture = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(picture).line([(32, 10), (32, 54)], fill=0, width=6)
    picture.save(image)
    code, out, err = run(capsys, "predict", name, image, "--json")
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["digit"] in range(10)


def test_evaluate_a_bundled_model(capsys, mnist_dir):
    code, out, err = run(capsys, "evaluate", "default", "--data", mnist_dir, "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.97


def test_a_real_file_wins_over_a_bundled_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_bytes(b"not a model")
    code, out, err = run(capsys, "info", "default")
    assert code == 1 and "not a readable model file" in err  # the file here was read, not the bundled one


def test_a_run_folder_names_its_model(capsys, tmp_path):
    shutil.copyfile(bundled_models()["mlp"], tmp_path / "model.safetensors")
    code, out, err = run(capsys, "info", tmp_path, "--json")
    assert code == 0, err
    (tmp_path / "model.safetensors").unlink()
    code, out, err = run(capsys, "info", tmp_path)
    assert (
        code == 1
        and "a folder without model.safetensors" in err
        and "cnn, lenet5, mlp, or default (cnn)" in err
    )


def test_a_missing_model_mentions_the_bundled_names(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", tmp_path / "missing.safetensors")
    assert code == 1 and "no such model file" in err and "bundled model: cnn, lenet5, mlp" in err


def test_train_config_from_a_bundled_model():
    assert recorded_config("default") == recorded_config("cnn") == get_preset("drawn-cnn")
    assert recorded_config("mlp") == get_preset("drawn-mlp")
    assert recorded_config("lenet5").conv == ((6,), (16,))


def test_recorded_settings_out_of_range_are_refused_naming_the_file(tmp_path, capsys):
    from digitnet.modelfile import load_model, save_model

    loaded = load_model(bundled_models()["mlp"])
    path = save_model(tmp_path / "m.safetensors", loaded.model, training={**loaded.training, "seed": -3})
    code, out, err = run(capsys, "train", "--config", path, "--out", tmp_path / "run")
    assert code == 1 and f"{path} records settings digitnet cannot train with" in err
    assert "seed must be a non-negative integer, got -3" in err and not (tmp_path / "run").exists()
