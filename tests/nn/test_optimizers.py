"""Optimisers and schedules against their closed-form update rules."""

import math

import numpy as np
import pytest

from digitnet.nn import SGD, Adam, Constant, Cosine, StepDecay
from digitnet.nn.optimizers import FLUSH_EVERY, flush_subnormals


def run(opt, grads, p0=1.0):
    p = np.array([p0], dtype=np.float64)
    for g in grads:
        opt.step([p], [np.array([g], dtype=np.float64)])
    return p[0]


def test_plain_sgd():
    assert run(SGD(lr=0.5), [2.0, -1.0]) == pytest.approx(1.0 - 0.5 * 2.0 + 0.5 * 1.0)


def test_momentum_closed_form():
    # v1 = g1, v2 = μ g1 + g2; θ = θ0 - η(v1 + v2)
    mu, lr, g1, g2 = 0.9, 0.1, 2.0, 3.0
    assert run(SGD(lr, momentum=mu), [g1, g2]) == pytest.approx(1.0 - lr * (g1 + (mu * g1 + g2)))


def test_nesterov_closed_form():
    mu, lr, g1, g2 = 0.9, 0.1, 2.0, 3.0
    v1, v2 = g1, mu * g1 + g2
    expected = 1.0 - lr * (g1 + mu * v1) - lr * (g2 + mu * v2)
    assert run(SGD(lr, momentum=mu, nesterov=True), [g1, g2]) == pytest.approx(expected)


def test_adam_closed_form():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    grads = [0.5, -1.0, 2.0]
    p, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
    assert run(Adam(lr, b1, b2, eps), grads) == pytest.approx(p, rel=1e-12)


def test_adam_first_step_is_about_lr_whatever_the_gradient_scale():
    for g in (1e-4, 1.0, 1e4):
        assert run(Adam(lr=0.01), [g]) == pytest.approx(1.0 - 0.01, rel=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(lr=0),
        lambda: SGD(lr=-1),
        lambda: SGD(momentum=1.0),
        lambda: SGD(nesterov=True),
        lambda: Adam(lr=float("nan")),
        lambda: Adam(beta1=1.0),
        lambda: Adam(eps=0),
    ],
)
def test_bad_hyperparameters_are_rejected(make):
    with pytest.raises(ValueError):
        make()


def test_schedules():
    assert Constant()(7.3) == 1.0
    step = StepDecay(epochs=30)
    assert step(0) == 1.0 and step(9.99) == 1.0 and step(10) == pytest.approx(0.1)
    assert step(25) == pytest.approx(0.01)
    cos = Cosine(epochs=10)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.5) and cos(10) == pytest.approx(0.0, abs=1e-12)
    assert Cosine(epochs=10, final_fraction=0.1)(10) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        StepDecay(epochs=10, gamma=0)


def test_flush_subnormals_zeroes_only_vanishing_values():
    a = np.array([1e-3, -2e-31, 5e-39, -1e-20, 0.0], dtype=np.float32)
    flush_subnormals([a])
    np.testing.assert_array_equal(a, np.array([1e-3, 0.0, 0.0, -1e-20, 0.0], dtype=np.float32))


def test_weights_decayed_by_l2_alone_end_exactly_zero_not_subnormal():
    """A weight that only L2 pulls on (an always-zero input pixel) must not linger as a slow subnormal."""
    w, g = np.full(8, 1e-3, np.float32), np.zeros(8, np.float32)
    opt = SGD(0.5, momentum=0.9)
    for _ in range(30 * FLUSH_EVERY):
        np.multiply(w, np.float32(0.01), out=g)  # the L2 gradient λw
        opt.step([w], [g])
    np.testing.assert_array_equal(w, 0.0)  # without the flush: about 1e-44, subnormal


def test_adam_flushes_its_state():
    """A first moment that decays by β1 each step is zeroed at the flush, before it turns subnormal."""
    w, g = np.full(4, 1e-3, np.float32), np.full(4, 1e-32, np.float32)
    opt = Adam(1e-3)
    opt.step([w], [g])
    g[:] = 0
    for _ in range(FLUSH_EVERY - 2):
        opt.step([w], [g])
    assert (opt.m[0] != 0).all()  # 1e-33 · 0.9^98: still there one step before the flush
    opt.step([w], [g])
    np.testing.assert_array_equal(opt.m[0], 0.0)


@pytest.mark.parametrize(
    "make",
    [lambda: Adam(1e-3), lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9), lambda: SGD(0.1, 0.9, True)],
    ids=["adam", "sgd", "momentum", "nesterov"],
)
def test_updates_in_cache_sized_slices_are_bit_identical(monkeypatch, make):
    import digitnet.nn.optimizers as optimizers

    results = []
    for chunk in (10**9, 1000):  # one slice vs 120 slices of a (300, 400) array
        monkeypatch.setattr(optimizers, "CHUNK", chunk)
        p = np.random.default_rng(5).standard_normal((300, 400)).astype(np.float32)
        opt = make()
        for i in range(5):
            opt.step([p], [np.random.default_rng(i).standard_normal((300, 400)).astype(np.float32)])
        results.append(p)
    np.testing.assert_array_equal(results[0], results[1])
