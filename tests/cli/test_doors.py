"""Careless inputs to the report and the server get a reason, not a traceback or a silent surprise."""

import pytest
from cli_helpers import run

from digitnet.config import TrainConfig
from digitnet.modelfile import load_model, save_model
from digitnet.runs import build_model


@pytest.fixture
def three_classes(tmp_path):
    """A model that reads 784 pixels into 3 classes: a file digitnet wrote, but no digit reader."""
    return save_model(tmp_path / "three.safetensors", build_model(TrainConfig(hidden=(4,)), classes=3))


def test_the_report_refuses_a_model_that_is_no_digit_reader_before_any_work(three_classes, tmp_path, capsys):
    out = tmp_path / "report"
    code, _, err = run(capsys, "report", three_classes, "--out", out)
    assert code == 1 and "is not a digit reader" in err and "gives 3 classes" in err
    assert "Traceback" not in err and not out.exists()


def test_the_server_refuses_to_serve_a_model_that_is_no_digit_reader(three_classes):
    from digitnet.serve import create_app

    with pytest.raises(ValueError, match="the model 'odd' is not a digit reader"):
        create_app({"odd": load_model(three_classes)}, "odd")


@pytest.mark.parametrize("host", ["", "   "])
def test_an_empty_host_is_refused_not_taken_as_every_interface(capsys, host):
    with pytest.raises(SystemExit):
        run(capsys, "serve", "--host", host)
    assert "--host must name an address" in capsys.readouterr().err
