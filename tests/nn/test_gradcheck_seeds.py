"""`digitnet gradcheck` passes for every seed on any CPU, and still fails on a wrong derivative.

Finite differences carry rounding noise of about u·|L|/ε per entry (see digitnet.nn.gradcheck): a check
that compares a tiny gradient with that noise fails by chance on one CPU and not another. These tests
run the README's commands for 20 seeds each, then break one derivative at a time, by as little as 0.1%,
and require the same commands to fail for each of 5 seeds.
"""

import json

import numpy as np
import pytest

from digitnet.cli.main import main
from digitnet.nn import BatchNorm, Conv2D, MaxPool2D, Sigmoid, Tanh
from digitnet.nn.gradcheck import RESOLVED_TO, relative_error, resolution

CONV = ["--conv", "2/3", "--batch-norm", "--inference"]  # the README's CNN check
MLP = ["--hidden", "8,6", "--activation", "tanh", "--l2", "0.1"]  # the README's MLP check
SEEDS = range(20)


def gradcheck(capsys, flags, seed):
    code = main(["gradcheck", *flags, "--seed", str(seed), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] == (code == 0)
    return report


RELU_DROPOUT = ["--activation", "relu", "--dropout", "0.3"]  # kinks, and units whose inputs all drop out


@pytest.mark.parametrize(
    "flags",
    [CONV, [*CONV[:-1]], MLP, RELU_DROPOUT, []],
    ids=["cnn-inference", "cnn-train", "mlp", "relu-dropout", "default"],
)
def test_the_readme_checks_pass_for_every_seed(capsys, flags):
    worst = {seed: gradcheck(capsys, flags, seed)["max_error"] for seed in SEEDS}
    assert max(worst.values()) <= 1e-6, worst


def scaled(method, factor):
    """``method`` with its returned gradient multiplied by ``factor``: a derivative wrong by a little."""

    def wrong(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        return None if out is None else out * factor

    return wrong


BUGS = {
    "sigmoid without (1 - a)": (Sigmoid, "backward", lambda self, g, need_input_grad=True: g * self.a),
    "max-pooling 0.1% off": (MaxPool2D, "backward", scaled(MaxPool2D.backward, 1.001)),
    "batch norm input gradient 0.1% off": (BatchNorm, "backward", scaled(BatchNorm.backward, 1.001)),
    "convolution input gradient 0.1% off": (Conv2D, "backward", scaled(Conv2D.backward, 1.001)),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_wrong_derivative_fails_the_cnn_check_for_every_seed(capsys, monkeypatch, bug):
    cls, name, replacement = BUGS[bug]
    monkeypatch.setattr(cls, name, replacement)
    best = {seed: gradcheck(capsys, CONV, seed)["max_error"] for seed in range(5)}
    assert min(best.values()) > 1e-6, best


def test_a_wrong_derivative_fails_the_mlp_check_for_every_seed(capsys, monkeypatch):
    monkeypatch.setattr(Tanh, "backward", scaled(Tanh.backward, 1.001))
    best = {seed: gradcheck(capsys, MLP, seed)["max_error"] for seed in range(5)}
    assert min(best.values()) > 1e-6, best


def test_the_floor_is_the_noise_of_finite_differences():
    # 320 entries, |L| = 1.4, eps = 1e-6: noise about sqrt(320) * 2.2e-16 * 1.4 / 1e-6 = 5.6e-9
    floor = resolution(1.4, 320, 1e-6)
    assert floor == pytest.approx(np.sqrt(320) * np.finfo(np.float64).eps * 1.4 / 1e-6 / RESOLVED_TO)
    # noise as large as the estimate (rounding measured here gives about a fifth of it) reads as ~1e-7
    noise = np.random.default_rng(0).standard_normal(320) * 2.2e-16 * 1.4 / 1e-6
    gradient = np.random.default_rng(1).standard_normal(320) * 1e-4  # a small, real gradient
    assert relative_error(gradient, gradient + noise, floor) < 2e-7
    assert relative_error(gradient, gradient * 1.001, floor) > 1e-6  # 0.1% wrong is still caught
