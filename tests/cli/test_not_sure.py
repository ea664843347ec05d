"""Honest confidence from the command line: calibrate a model on drawn digits, evaluate on them, and
predict with a reject option that says "not sure" and names the two likeliest digits."""

import json
import math

import numpy as np
import pytest
from cli_helpers import run
from PIL import Image

from digitnet.imaging.pen import render_strokes
from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL, bundled_models

ZERO = [[(140 + 60 * math.cos(t * math.pi / 12), 140 + 95 * math.sin(t * math.pi / 12)) for t in range(25)]]
SLASHED_ZERO = [*ZERO, [(90, 250), (200, 30)]]


def drawing(path, strokes):
    Image.fromarray(render_strokes(strokes)).save(path)
    return path


def test_calibrate_writes_a_copy_with_a_temperature_and_a_threshold(tmp_path, capsys):
    out = tmp_path / "calibrated.safetensors"
    code, stdout, err = run(capsys, "calibrate", "lenet5", "--digits", "sketches", "--out", out)
    assert code == 0, err
    assert "temperature" in stdout and "not sure below" in stdout and "of its wrong answers" in stdout
    original, calibrated = load_model(bundled_models()["lenet5"]), load_model(out)
    assert calibrated.metrics["calibration_digits"] == "sketches"
    assert calibrated.metrics["temperature"] >= 1 and 0 < calibrated.metrics["min_confidence"] < 1
    assert calibrated.metrics["right_set_aside"] == pytest.approx(0.03, abs=0.01)  # the chosen share
    for name, value in original.model.named_state().items():  # the weights are untouched
        assert np.array_equal(value, calibrated.model.named_state()[name])
    code, _, err = run(capsys, "calibrate", "lenet5", "--digits", "sketches", "--out", out)
    assert code != 0 and "already exists" in err  # nothing already saved is overwritten unasked


def test_evaluate_on_drawn_digits_reports_what_not_sure_catches(capsys):
    code, stdout, err = run(capsys, "evaluate", "mlp", "--digits", "sketches", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["digits"] == "sketches" and report["examples"] == 680
    not_sure = report["not_sure"]
    assert not_sure["threshold"] == load_model(MLP_MODEL).metrics["min_confidence"]
    assert 0 <= not_sure["errors_caught"] <= 1 and 0 <= not_sure["right_set_aside"] <= 1
    assert 0 < not_sure["coverage"] <= 1 and "wrong_above_0.9" in not_sure
    code, stdout, _ = run(capsys, "evaluate", "mlp", "--digits", "sketches")
    assert "saying 'not sure' below" in stdout and "catches" in stdout


def test_predict_says_not_sure_below_the_threshold_and_names_the_runner_up(tmp_path, capsys):
    image = drawing(tmp_path / "zero.png", SLASHED_ZERO)
    code, stdout, _ = run(capsys, "predict", "lenet5", image, "--json", "--min-confidence", "0")
    (answer,) = json.loads(stdout)["predictions"]
    assert code == 0 and answer["sure"] and answer["min_confidence"] == 0
    second = sorted(range(10), key=lambda d: -answer["probabilities"][d])[1]
    assert answer["runner_up"] == second
    code, stdout, _ = run(capsys, "predict", "lenet5", image, "--json", "--min-confidence", "1")
    (never,) = json.loads(stdout)["predictions"]
    assert never["sure"] is (never["confidence"] >= 1.0)
    code, stdout, _ = run(capsys, "predict", "lenet5", image, "--min-confidence", "1")
    if not never["sure"]:
        assert f"not sure: {never['digit']} or {never['runner_up']}?" in stdout


def test_predict_uses_the_models_own_threshold_by_default(tmp_path, capsys):
    image = drawing(tmp_path / "zero.png", ZERO)
    code, stdout, _ = run(capsys, "predict", "default", image, "--json")
    (answer,) = json.loads(stdout)["predictions"]
    assert answer["min_confidence"] == load_model(bundled_models()["cnn"]).metrics["min_confidence"]
    assert answer["digit"] == 0 and answer["sure"]


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "nan", "half"])
def test_a_bad_threshold_is_refused_naming_the_flag(tmp_path, capsys, bad):
    image = drawing(tmp_path / "zero.png", ZERO)
    with pytest.raises(SystemExit):
        run(capsys, "predict", "lenet5", image, "--min-confidence", bad)
    assert "--min-confidence must be a number from 0 to 1" in capsys.readouterr().err


def test_a_model_that_does_not_read_digits_is_refused_with_a_reason(tmp_path, capsys):
    from digitnet.modelfile import save_model
    from digitnet.training.config import TrainConfig
    from digitnet.training.runs import build_model

    odd = save_model(
        tmp_path / "odd.safetensors", build_model(TrainConfig(hidden=(4,)), features=64, classes=3)
    )
    for command in (
        ["calibrate", odd, "--digits", "sketches", "--out", tmp_path / "c.safetensors"],
        ["evaluate", odd, "--digits", "sketches"],
    ):
        code, _, err = run(capsys, *command)
        assert code == 1 and "is not a digit reader" in err and "(64,)" in err and "Traceback" not in err
    assert not (tmp_path / "c.safetensors").exists()
