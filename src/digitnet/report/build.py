"""``build_report``: everything ``digitnet report`` computes about a model, its figures and its page.

The test split (10,000 digits) feeds every number and figure except the temperature, which is fitted on
the validation split (the last 10,000 training images); the test digits never choose anything.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.atomic import atomic_write
from digitnet.calibration import (
    N_BINS,
    calibration_logits,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    softmax_t,
)
from digitnet.checks import check_digit_reader
from digitnet.data import load_mnist
from digitnet.data.pendigits import load_pendigits, pendigits_inputs
from digitnet.errors import DataError
from digitnet.imaging.sketches import sketch_inputs
from digitnet.jsonable import plain
from digitnet.metrics import confusion_matrix
from digitnet.modelfile import load_model
from digitnet.nn.inspect import drawn_network, first_convolution
from digitnet.plots import save_figure
from digitnet.report import figures
from digitnet.report.neurons import MAX_SHOWN, analyse_first_layer
from digitnet.report.page import render_page
from digitnet.report.reject import selective_record

__all__ = ["GALLERY_SIZE", "VALIDATION_SIZE", "build_report", "default_out"]

VALIDATION_SIZE = 10_000  # the last 10,000 training images, as `digitnet train` holds out by default
GALLERY_SIZE = 30  # misclassified digits shown: three rows of ten
TOP_PAIRS = 10  # most confused (true, predicted) pairs listed
IMPORTANCE = (
    "importance_j = ‖W2[j, :]‖₂ · mean over test digits of |a_j(x)| = the mean length of the vector "
    "neuron j adds to the next layer's weighted sums (W2: its outgoing weights, a_j: its activation)"
)


def default_out(model_path: str | os.PathLike) -> Path:
    """The folder ``report`` beside the model file."""
    return Path(model_path).parent / "report"


def build_report(
    model_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Analyse the model in ``model_path`` on MNIST and write ``index.html``, ``report.json`` and PNGs.

    Parameters
    ----------
    model_path : path-like
        A model file written by ``digitnet train``.
    out : path-like, optional
        Output folder, created if needed; default :func:`default_out`.
    data_dir : path-like, optional
        Folder with the MNIST files (see :func:`digitnet.data.load_mnist`).
    progress : bool
        Show a download progress bar if MNIST must be fetched.

    Returns
    -------
    dict
        The contents of ``report.json``.

    Raises
    ------
    ModelFileError
        The model file is missing or unreadable.
    DataError
        MNIST cannot be found or is damaged.
    """
    start = time.perf_counter()
    loaded = load_model(model_path)  # fails first, before any data is read
    check_digit_reader(loaded.model, model_path)  # the report reads MNIST's test digits with it
    out = Path(out) if out is not None else default_out(model_path)
    data = load_mnist(data_dir, validation_size=VALIDATION_SIZE, progress=progress)
    model, test = loaded.model, data.test
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "model": str(model_path),
        "digitnet_version": loaded.digitnet_version,
        "created": loaded.created,
        "architecture": model.config(),
        "parameters": model.n_params,
        "summary": model.summary(),
        "training": loaded.training,
        "recorded_metrics": loaded.metrics,
    }
    figs: dict[str, str] = {}

    def save(name, fig):
        save_figure(fig, out / f"{name}.png")
        figs[name] = f"{name}.png"

    # 1. training curves
    epochs = list(loaded.history.get("epochs") or [])
    has_val = bool(epochs) and all(e.get("val_loss") is not None for e in epochs)
    report["history"] = {
        "epochs": epochs,
        "has_validation": has_val,
        "best_epoch": loaded.history.get("best_epoch"),
        "stopped_early": bool(loaded.history.get("stopped_early")),
    }
    if epochs:
        save("training_curves", figures.training_curves_figure(epochs, model.cost_name))

    # 2. test scores, confusion matrix, mistakes
    proba = model.predict_proba(test.x).astype(np.float64)  # (N, C)
    pred = proba.argmax(axis=1)  # (N,)
    labels = test.y.astype(np.intp)
    scores = model.evaluate(test.x, test.y)
    m = confusion_matrix(labels, pred, model.n_classes)  # (C, C)
    report["test"] = {
        "examples": len(test),
        "accuracy": scores["accuracy"],
        "loss": scores["loss"],
        "errors": int(np.count_nonzero(pred != labels)),
    }
    report["confusion_matrix"] = m.tolist()
    report["most_confused"] = _most_confused(m)
    save("confusion_matrix", figures.confusion_figure(m))
    wrong = np.flatnonzero(pred != labels)[:GALLERY_SIZE]  # the first mistakes in test order: unbiased
    report["misclassified"] = [_example(i, labels, proba, top=3) for i in wrong]
    if len(wrong):
        save("misclassified", figures.misclassified_figure(test.x[wrong], labels[wrong], proba[wrong]))

    # 3. probability bars
    chosen = _probability_examples(proba, labels)
    report["probability_examples"] = [_example(i, labels, proba) for i in chosen]
    save("probabilities", figures.probability_figure(test.x[chosen], labels[chosen], proba[chosen]))

    # 4. first-layer neurons
    neurons = analyse_first_layer(model, test.x)
    conv = first_convolution(model)
    if conv is not None:
        kernels = conv.params["W"]  # (F, C, K, K)
        report["neurons"] = {
            "convolutional": True,
            "filters": int(kernels.shape[0]),
            "kernel_size": int(kernels.shape[-1]),
            "skipped": "the first layer is convolutional: its filters and the feature maps they make of "
            "one test digit are shown instead of 28x28 weight images",
        }
        save("conv_filters", figures.conv_filters_figure(kernels, model, test.x[0]))
    elif neurons is None:
        report["neurons"] = {
            "skipped": "the model has no hidden layer: its inputs feed the 10 outputs directly"
        }
    else:
        report["neurons"] = _neuron_record(neurons)
        save("neuron_weights", figures.neuron_weights_figure(neurons))
        save("neuron_top_digits", figures.neuron_digits_figure(neurons, test.images))
        save("neuron_importance", figures.importance_figure(neurons))

    # 5. one digit through the network, drawn as the drawing page draws it
    report["network"] = _one_digit(model, test, proba, save)

    # 6. calibration
    report["calibration"] = _calibration(model, data, loaded.training, proba, labels)
    cal = report["calibration"]
    save(
        "reliability",
        figures.reliability_figure(
            [
                ("before temperature scaling", cal["before"]["bins"], cal["before"]["ece"]),
                (f"after scaling, T = {cal['temperature']:.3g}", cal["after"]["bins"], cal["after"]["ece"]),
            ]
        ),
    )

    # 7. saying "not sure": risk against coverage on MNIST's test digits and on drawn ones
    report["reject"] = _reject(model, loaded.metrics, test.x, proba, labels)
    save(
        "risk_coverage",
        figures.risk_coverage_figure(
            [
                ("MNIST test digits", report["reject"]["mnist"]),
                (report["reject"]["drawn_label"], report["reject"]["drawn"]),
            ]
        ),
    )

    report["figures"] = figs
    report["seconds"] = round(time.perf_counter() - start, 2)
    with atomic_write(out / "report.json", "w") as f:
        json.dump(plain(report), f, indent=1, ensure_ascii=False)
    with atomic_write(out / "index.html", "w") as f:
        f.write(render_page(report))
    report["out"] = str(out)
    return report


def _one_digit(model, test, proba: np.ndarray, save) -> dict:
    """The first test digit through ``model``: the neurons and links :func:`drawn_network` chooses for the
    drawing page, saved as the ``network`` figure; what the report records of it."""
    x = test.x[:1]  # (1, 784)
    network, connections, activations = drawn_network(model, model.layer_outputs(x), x)
    save("network", figures.network_figure(x[0], network, connections, activations, proba[0]))
    return {
        "digit_index": 0,
        "label": int(test.y[0]),
        "predicted": int(proba[0].argmax()),
        "columns": [{"size": c["size"], "shown": c["shown"].tolist()} for c in network[1:]],
        "links": len(connections),
    }


def _most_confused(m: np.ndarray) -> list[dict]:
    """The off-diagonal cells with the most digits, largest first (ties: by true, then predicted)."""
    c = len(m)
    pairs = [(int(m[t, p]), t, p) for t in range(c) for p in range(c) if t != p and m[t, p] > 0]
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [
        {"true": t, "predicted": p, "count": n, "share_of_true": n / max(int(m[t].sum()), 1)}
        for n, t, p in pairs[:TOP_PAIRS]
    ]


def _example(i: int, labels: np.ndarray, proba: np.ndarray, top: int | None = None) -> dict:
    p = proba[i]
    record = {"index": int(i), "true": int(labels[i]), "predicted": int(p.argmax())}
    if top:
        order = np.argsort(-p)[:top]
        record["top"] = [{"digit": int(c), "probability": float(p[c])} for c in order]
    else:
        record["probabilities"] = [float(v) for v in p]
    return record


def _probability_examples(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The first four test digits, the right answer given with least confidence, the wrong answer
    given with most confidence (six at most, no repeats)."""
    confidence, right = proba.max(axis=1), proba.argmax(axis=1) == labels
    chosen = list(range(min(4, len(labels))))
    if right.any():
        chosen.append(int(np.flatnonzero(right)[np.argmin(confidence[right])]))
    if (~right).any():
        chosen.append(int(np.flatnonzero(~right)[np.argmax(confidence[~right])]))
    return np.array(list(dict.fromkeys(chosen)), dtype=np.intp)


def _neuron_record(n) -> dict:
    return {
        "units": n.units,
        "importance_definition": IMPORTANCE,
        "max_shown": MAX_SHOWN,
        "importance": n.importance.tolist(),
        "mean_abs_activation": n.mean_activation.tolist(),
        "outgoing_norm": n.outgoing_norm.tolist(),
        "dead": int(np.count_nonzero(n.mean_activation == 0)),
        "shown": [
            {
                "neuron": int(j),
                "importance": float(n.importance[j]),
                "top_test_indices": n.top_indices[s].tolist(),
                "top_activations": n.top_activations[s].tolist(),
            }
            for s, j in enumerate(n.shown)
        ],
    }


def _validation_overlap(training: dict) -> int:
    """How many of the validation images (train images 50,000-59,999) the model was trained on.

    ``digitnet train`` trains on the first ``60,000 - validation_size`` images, cut to ``train_size``.
    """
    if not training:
        return 0
    held_out = int(training.get("validation_size") or 0)
    used = 60_000 - held_out
    if training.get("train_size"):
        used = min(used, int(training["train_size"]))
    return max(0, used - (60_000 - VALIDATION_SIZE))


REJECT_SKETCHES = 20
"""Drawn digits per (digit, style) for the risk-coverage curve: 340, about 1.5 s to draw."""
REJECT_SEED = 7  # their writers: not those `digitnet calibrate` fits on (seed 2026)


def _reject(model, metrics: dict, test_x: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> dict:
    """Risk-coverage on the test digits and on sketches drawn with the page's pen, with the model's
    recorded temperature and "not sure" threshold (``digitnet calibrate``) where it has them."""
    temperature = float(metrics.get("temperature", 1.0))
    threshold = metrics.get("min_confidence")
    try:  # people's pen digits when they are on this machine (never downloaded for a report)
        digits = load_pendigits(download=False, progress=False).split("validation")
        x, y = pendigits_inputs(digits), digits.labels
        described = f"the {len(y):,} pen digits of 10 writers (UCI pen digits, writers 21-30)"
    except DataError:
        x, y, _ = sketch_inputs(REJECT_SKETCHES, np.random.default_rng(REJECT_SEED))
        described = (
            f"{len(y)} digits drawn with the page's pen by a program (digitnet.imaging.sketches, seed "
            f"{REJECT_SEED}; with the pen digits on this machine, DIGITNET_PENDIGITS, the report uses those)"
        )
    drawn = softmax_t(calibration_logits(model, x), temperature)  # (M, C)
    mnist = (
        proba if temperature == 1.0 else softmax_t(calibration_logits(model, test_x), temperature)
    )  # (N, C)
    return {
        "temperature": temperature,
        "drawn_digits": described,
        "drawn_label": "pen digits of 10 writers" if "pen digits" in described else "sketches",
        "mnist": selective_record(mnist, labels, threshold),
        "drawn": selective_record(drawn, y, threshold),
    }


def _calibration(model, data, training: dict, proba: np.ndarray, labels: np.ndarray) -> dict:
    z_val = calibration_logits(model, data.validation.x)  # (Nv, C)
    y_val = data.validation.y.astype(np.intp)
    z_test = calibration_logits(model, data.test.x)  # (N, C)
    t = fit_temperature(z_val, y_val)
    before, after = softmax_t(z_test, 1.0), softmax_t(z_test, t)
    if model.cost_name == "cross-entropy":
        logits = "the network's output scores (logits), whose softmax is the model's probability"
    else:
        logits = (
            "log of the normalised outputs, log(a / Σa): softmax(log p / T) = p^(1/T) / Σ p^(1/T), "
            "so T = 1 is exactly the model's own probability"
        )
    return {
        "bins": N_BINS,
        "logits": logits,
        "temperature": t,
        "fitted_on": f"validation split: the last {VALIDATION_SIZE:,} training images",
        "validation_overlap_with_training": _validation_overlap(training),
        "validation_nll_before": nll(z_val, y_val, 1.0),
        "validation_nll_after": nll(z_val, y_val, t),
        "test_nll_before": nll(z_test, labels, 1.0),
        "test_nll_after": nll(z_test, labels, t),
        "before": {
            "ece": expected_calibration_error(before, labels),
            "bins": reliability_bins(before, labels),
        },
        "after": {"ece": expected_calibration_error(after, labels), "bins": reliability_bins(after, labels)},
        "max_probability_difference_at_t1": float(np.abs(before - proba).max()),
    }
