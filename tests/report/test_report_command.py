"""`digitnet report` end to end on real MNIST, with small models trained through `runs.train`."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from digitnet.cli.main import main
from digitnet.data import MNIST, Split
from digitnet.modelfile import save_model
from digitnet.report.page import render_page
from digitnet.training.config import TrainConfig
from digitnet.training.runs import train

TINY = TrainConfig(hidden=(16,), epochs=2, train_size=5000, validation_size=10_000, lr=3e-3)


def small_data(mnist, config: TrainConfig) -> MNIST:
    """The first ``train_size`` training images; validation only if the config holds one out."""
    train_split = Split(mnist.train.x[: config.train_size], mnist.train.y[: config.train_size])
    validation = (
        mnist.validation if config.validation_size else Split(mnist.validation.x[:0], mnist.validation.y[:0])
    )
    return MNIST(train_split, validation, mnist.test)


def train_and_save(path, mnist, config, *, history=True):
    result = train(config, small_data(mnist, config))
    save_model(
        path,
        result.model,
        training=config.to_dict(),
        history=result.history.to_dict() if history else None,
        metrics=result.metrics,
    )
    return result


def report_json(*argv) -> tuple[int, dict]:
    """Run `digitnet report ... --json`; returns the exit code and the JSON printed on stdout."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["report", *map(str, argv), "--json"])
    return code, json.loads(stdout.getvalue())


@pytest.fixture(scope="module")
def relu_report(tmp_path_factory, mnist, mnist_dir):
    """A 784-16-10 ReLU model trained with validation, and its report."""
    root = tmp_path_factory.mktemp("relu")
    result = train_and_save(root / "model.safetensors", mnist, TINY)
    code, report = report_json(root / "model.safetensors", "--data", mnist_dir)  # default --out
    assert code == 0
    return result, report, root / "report"


@pytest.fixture(scope="module")
def linear_report(tmp_path_factory, mnist, mnist_dir):
    """A 784-10 sigmoid/quadratic model (no hidden layer) trained without validation, and its report."""
    root = tmp_path_factory.mktemp("linear")
    config = TINY.replace(hidden=(), cost="quadratic", validation_size=0)
    result = train_and_save(root / "model.safetensors", mnist, config)
    code, report = report_json(root / "model.safetensors", "--data", mnist_dir, "--out", root / "out")
    assert code == 0
    return result, report, root / "out"


def test_report_writes_page_json_and_figures(relu_report):
    _, report, out = relu_report
    page = (out / "index.html").read_text()
    assert json.loads((out / "report.json").read_text())["test"] == report["test"]
    expected = {
        "training_curves",
        "confusion_matrix",
        "misclassified",
        "probabilities",
        "neuron_weights",
        "neuron_top_digits",
        "neuron_importance",
        "network",
        "reliability",
        "risk_coverage",
    }
    assert set(report["figures"]) == expected
    for name, file in report["figures"].items():
        with Image.open(out / file) as image:
            assert image.format == "PNG" and min(image.size) > 100, name
        assert f'src="{file}"' in page  # relative: the page opens from disk
    assert "<script" not in page and "http" not in page  # self-contained, no network
    sections = ("Training curves", "First-layer neurons", "One digit through the network", "Confusion matrix")
    for section in (*sections, "Calibration", "Saying &ldquo;not sure&rdquo;", "784-16-10"):
        assert section.lower() in page.lower()


def test_report_numbers_are_sane(relu_report, mnist):
    result, report, _ = relu_report
    scores = result.model.evaluate(mnist.test.x, mnist.test.y)
    assert report["test"]["accuracy"] == pytest.approx(scores["accuracy"])
    assert report["test"]["accuracy"] > 0.85
    m = np.array(report["confusion_matrix"])
    assert m.shape == (10, 10) and m.sum() == 10_000
    assert np.trace(m) / 10_000 == pytest.approx(report["test"]["accuracy"])
    assert report["most_confused"][0]["count"] == max(m[t, p] for t in range(10) for p in range(10) if t != p)
    assert len(report["misclassified"]) == 30 and all(
        e["true"] != e["predicted"] for e in report["misclassified"]
    )
    cal = report["calibration"]
    assert cal["temperature"] > 0 and cal["validation_overlap_with_training"] == 0
    assert cal["validation_nll_after"] <= cal["validation_nll_before"] + 1e-12
    for state in ("before", "after"):
        assert 0 <= cal[state]["ece"] <= 1
        assert sum(b["count"] for b in cal[state]["bins"]) == 10_000 and len(cal[state]["bins"]) == 15
    assert cal["max_probability_difference_at_t1"] < 1e-5  # T = 1 is the model's own probability
    neurons = report["neurons"]
    assert neurons["units"] == 16 and len(neurons["shown"]) == 16 and len(neurons["importance"]) == 16
    top = neurons["shown"][0]
    assert top["importance"] == max(neurons["importance"])
    assert top["top_activations"] == sorted(top["top_activations"], reverse=True)
    assert [e["epoch"] for e in report["history"]["epochs"]] == [1, 2] and report["history"]["has_validation"]
    for example in report["probability_examples"]:
        assert sum(example["probabilities"]) == pytest.approx(1, abs=1e-5)


def test_report_of_a_model_without_hidden_layer_or_validation(linear_report, mnist):
    result, report, out = linear_report
    assert report["test"]["accuracy"] == pytest.approx(
        result.model.evaluate(mnist.test.x, mnist.test.y)["accuracy"]
    )
    assert "skipped" in report["neurons"] and not any(name.startswith("neuron") for name in report["figures"])
    assert not report["history"]["has_validation"] and "training_curves" in report["figures"]
    cal = report["calibration"]
    assert "log of the normalised outputs" in cal["logits"] and cal["temperature"] > 0
    assert 0 <= cal["after"]["ece"] <= 1
    page = (out / "index.html").read_text()
    assert "no hidden layer" in page and "without a validation split" in page
    # a model file with no recorded history, training settings or results says so instead of plotting
    bare = {
        **report,
        "history": {"epochs": [], "has_validation": False},
        "training": {},
        "recorded_metrics": {},
        "figures": {k: v for k, v in report["figures"].items() if k != "training_curves"},
    }
    page = render_page(bare)
    assert "records no training history" in page and "records no training settings" in page
    assert "training_curves.png" not in page


def test_report_warns_when_the_validation_images_were_trained_on(linear_report):
    _, report, _ = linear_report
    page = render_page(
        {**report, "calibration": {**report["calibration"], "validation_overlap_with_training": 10_000}}
    )
    assert re.search(r"trained on 10,000 of the validation images", page)


def test_bad_model_path_is_a_clear_error(tmp_path, capsys):
    code = main(["report", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert code == 1 and "no such model file" in err and "Traceback" not in err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    code = main(["report", str(junk), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "digitnet report: error:" in err and "not a readable model file" in err
    assert not (tmp_path / "out").exists()  # nothing written for a bad model


def test_wide_layers_show_their_most_important_neurons(relu_report, mnist):
    from digitnet.report import analyse_first_layer

    model = relu_report[0].model
    x = mnist.test.x[:500]
    neurons = analyse_first_layer(model, x, max_shown=5, top_k=3)
    assert neurons.shown.shape == (5,) and neurons.top_indices.shape == (5, 3)
    ranked = np.sort(neurons.importance)[::-1]
    np.testing.assert_allclose(neurons.importance[neurons.shown], ranked[:5])
    # importance = ‖outgoing weights‖ · mean |activation|, recomputed by hand for the top neuron
    j = neurons.shown[0]
    a = np.maximum(x @ model.layers[0].params["W"] + model.layers[0].params["b"], 0)  # (N, U) ReLU
    expected = np.linalg.norm(model.layers[2].params["W"][j]) * np.abs(a[:, j]).mean()
    assert neurons.importance[j] == pytest.approx(expected, rel=1e-4)
    assert neurons.top_activations[0, 0] == pytest.approx(a[:, j].max(), rel=1e-4)


def test_report_of_a_convolutional_model_shows_its_filters(tmp_path, mnist, mnist_dir):
    config = TINY.replace(conv=((4,),), kernel_size=3, batch_norm=True, epochs=1, train_size=2000)
    result = train_and_save(tmp_path / "model.safetensors", mnist, config)
    code, report = report_json(tmp_path / "model.safetensors", "--data", mnist_dir, "--out", tmp_path / "out")
    assert code == 0
    assert report["test"]["accuracy"] == pytest.approx(
        result.model.evaluate(mnist.test.x, mnist.test.y)["accuracy"]
    )
    assert report["neurons"]["convolutional"] and report["neurons"]["filters"] == 4
    assert "conv_filters" in report["figures"] and "neuron_weights" not in report["figures"]
    page = (tmp_path / "out" / "index.html").read_text()
    assert "first layer is convolutional" in page and "28x28-c4-pool-16-10" in page
