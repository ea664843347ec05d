"""The training loop: it learns, it is reproducible, it stops early and it stops loudly on NaN."""

import subprocess
import sys

import numpy as np
import pytest

from digitnet.errors import NonFiniteError
from digitnet.nn import (
    SGD,
    Adam,
    Callback,
    Cosine,
    Dense,
    Dropout,
    FitSettings,
    ReLU,
    Sequential,
    Sigmoid,
)


def toy_data(n=600, seed=0):
    """Three Gaussian blobs in 20 dimensions: easy to learn, quick to train."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.standard_normal((3, 20)) * 2
    x = (centres[y] + rng.standard_normal((n, 20))).astype(np.float32)
    return x, y


def toy_net(seed=0, dropout=0.2):
    return Sequential([Dense(16), ReLU(), Dropout(dropout), Dense(3)], input_shape=(20,), rng=seed)


def test_toy_problem_is_learned():
    x, y = toy_data()
    net = toy_net()
    history = net.fit(x, y, optimizer=Adam(1e-2), epochs=10, batch_size=32, rng=1)
    assert history["loss"][-1] < history["loss"][0]
    assert net.evaluate(x, y)["accuracy"] > 0.95


def test_same_seed_gives_bit_identical_weights():
    x, y = toy_data()
    runs = []
    for _ in range(2):
        net = toy_net(seed=3)
        net.fit(
            x,
            y,
            optimizer=SGD(0.1, momentum=0.9),
            epochs=3,
            batch_size=10,
            rng=7,
            schedule=Cosine(3),
            l2=1e-3,
        )
        runs.append(net.named_params())
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    other = toy_net(seed=3)
    other.fit(x, y, optimizer=SGD(0.1, momentum=0.9), epochs=3, batch_size=10, rng=8)
    assert not np.array_equal(other.named_params()["layers.0.W"], runs[0]["layers.0.W"])


def test_huge_learning_rate_stops_with_a_diagnosis():
    x, y = toy_data()
    net = Sequential([Dense(16), ReLU(), Dense(3)], input_shape=(20,), rng=0)
    with pytest.raises(NonFiniteError) as info:
        net.fit(x * 1e3, y, optimizer=SGD(1e6), epochs=5, batch_size=10, rng=0)
    err = info.value
    assert err.epoch == 1 and err.batch >= 1
    message = str(err)
    assert f"epoch 1, batch {err.batch}" in message and "learning rate" in message


def test_nonfinite_gradient_names_the_parameter(monkeypatch):
    x, y = toy_data()
    net = toy_net(dropout=0)
    original = Dense.backward

    def poisoned(self, grad_out, **kwargs):
        out = original(self, grad_out, **kwargs)
        if self.units == 16:
            self.grads["W"][0, 0] = np.inf
        return out

    monkeypatch.setattr(Dense, "backward", poisoned)
    with pytest.raises(NonFiniteError) as info:
        net.fit(x, y, optimizer=SGD(0.1), epochs=1, batch_size=10, rng=0)
    assert info.value.what == "layers.0.W" and info.value.batch == 1
    assert "layers.0.W" in str(info.value)


def test_nan_inputs_are_reported_as_such():
    x, y = toy_data()
    x[5, 3] = np.nan
    net = toy_net(dropout=0)
    with pytest.raises(NonFiniteError, match="input images"):
        net.fit(x, y, optimizer=SGD(0.1), epochs=1, batch_size=len(x), rng=0)


def test_early_stopping_restores_the_best_weights():
    x, y = toy_data(n=300)
    vx, vy = toy_data(n=200, seed=1)
    vy = (vy + 1) % 3  # labels that contradict training: validation loss rises as training fits
    net = toy_net()
    history = net.fit(
        x, y, optimizer=Adam(1e-2), epochs=50, batch_size=32, rng=0, validation=(vx, vy), patience=2
    )
    assert history.stopped_early and len(history) < 50
    best = history.best_epoch
    assert len(history) == best + 2
    assert net.evaluate(vx, vy)["loss"] == pytest.approx(history.epochs[best - 1]["val_loss"], rel=1e-5)


def test_callbacks_see_every_batch_and_epoch():
    seen = {"batches": 0, "epochs": []}

    class Spy(Callback):
        def on_batch_end(self, epoch, batch, loss):
            seen["batches"] += 1

        def on_epoch_end(self, epoch, logs):
            seen["epochs"].append(logs["epoch"])

    x, y = toy_data(n=95)
    toy_net().fit(x, y, optimizer=SGD(0.1), epochs=2, batch_size=10, rng=0, callbacks=[Spy()])
    assert seen == {"batches": 20, "epochs": [1, 2]}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"l2": -1.0}, "l2"),
        ({"patience": 3}, "validation"),
    ],
)
def test_bad_training_arguments(kwargs, match):
    x, y = toy_data(n=20)
    with pytest.raises(ValueError, match=match):
        toy_net().fit(x, y, optimizer=SGD(0.1), **{"epochs": 1, "batch_size": 4, **kwargs})


def test_bad_labels_and_shapes():
    x, y = toy_data(n=20)
    net = toy_net()
    with pytest.raises(ValueError, match="0..2"):
        net.fit(x, y + 5, optimizer=SGD(0.1), epochs=1)
    with pytest.raises(ValueError, match="do not fit"):
        net.fit(x[:, :5], y, optimizer=SGD(0.1), epochs=1)
    with pytest.raises(ValueError, match="labels"):
        net.fit(x, y[:10], optimizer=SGD(0.1), epochs=1)


def test_real_mnist_short_run_learns(mnist):
    """A correctness check, not a timing: two quick epochs on 20,000 digits must pass 90% on the test set."""
    net = Sequential([Dense(64), ReLU(), Dense(10)], rng=0)
    net.fit(
        mnist.train.x[:20_000], mnist.train.y[:20_000], optimizer=Adam(2e-3), epochs=2, batch_size=64, rng=0
    )
    assert net.evaluate(mnist.test.x, mnist.test.y)["accuracy"] >= 0.90


def test_the_seeds_network_learns_on_real_mnist(mnist):
    """784-16-16-10 sigmoid, quadratic cost, SGD with mini-batches of 10: one epoch already passes 85%."""
    net = Sequential(
        [Dense(16), Sigmoid(), Dense(16), Sigmoid(), Dense(10), Sigmoid()], cost="quadratic", rng=0
    )
    net.fit(mnist.train.x, mnist.train.y, optimizer=SGD(3.0), epochs=1, batch_size=10, rng=0)
    assert net.evaluate(mnist.test.x, mnist.test.y)["accuracy"] >= 0.85


def test_oversampling_balances_every_epoch():
    from digitnet.nn.training import balanced_order

    y = np.array([0] * 50 + [1] * 5 + [2] * 20)
    order = balanced_order(y, 3, np.random.default_rng(0))
    assert len(order) == 150
    np.testing.assert_array_equal(np.bincount(y[order]), [50, 50, 50])
    assert set(np.flatnonzero(y == 1)) <= set(order)  # every rare example is used


def test_oversampling_and_class_weights_raise_the_rare_class_recall():
    x, y = toy_data(n=900)
    keep = (y != 2) | (np.arange(len(y)) % 15 == 0)  # class 2 cut to about 7%
    x, y = x[keep], y[keep]
    x = x + np.random.default_rng(5).standard_normal(x.shape).astype(np.float32) * 2.5  # overlap the blobs
    tx, ty = toy_data(n=3000, seed=0)
    tx = tx + np.random.default_rng(6).standard_normal(tx.shape).astype(np.float32) * 2.5

    def recall(**options):
        net = toy_net(dropout=0)
        net.fit(x, y, optimizer=Adam(3e-3), epochs=5, batch_size=32, rng=0, **options)
        pred = net.predict(tx)
        return np.mean(pred[ty == 2] == 2)

    from digitnet.nn.costs import balanced_class_weights

    plain = recall()
    assert recall(oversample=True) > plain
    assert recall(class_weights=balanced_class_weights(y, 3)) > plain


def test_augmentation_applies_to_training_batches_only_and_leaves_other_runs_unchanged():
    x, y = toy_data(n=200)
    seen = []

    def augment(images, rng):
        seen.append(images.shape)
        return images + rng.normal(0, 0.01, images.shape).astype(images.dtype)

    runs = []
    for aug in (None, None, augment):
        net = toy_net(dropout=0)
        net.fit(
            x, y, optimizer=SGD(0.1), epochs=2, batch_size=50, rng=4, augment=aug, validation=(x[:20], y[:20])
        )
        runs.append(net.parameters.values.copy())
    np.testing.assert_array_equal(runs[0], runs[1])  # without augmentation: the usual stream
    assert not np.array_equal(runs[0], runs[2])
    assert seen == [(50, 20)] * 8  # 2 epochs x 4 training batches; validation is never augmented


ONE_WORKER_FIT = """
import sys
import numpy as np
import digitnet
from digitnet.nn import Adam, Dense, ReLU, Sequential
net = Sequential([Dense(8), ReLU(), Dense(3)], input_shape=(4,), rng=0)
x, y = np.random.default_rng(0).random((32, 4), dtype=np.float32), np.arange(32) % 3
net.fit(x, y, optimizer=Adam(), epochs=2, batch_size=8, workers=WORKERS)
print(" ".join(sorted(m for m in sys.modules if m.startswith(("digitnet.nn.parallel", "multiprocessing")))))
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_one_worker_training_never_imports_the_multiprocessing_code(workers):
    """A reader of the engine never meets a process: plain training imports no process code at all."""
    code = ONE_WORKER_FIT.replace("WORKERS", str(workers))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = result.stdout.split()
    if workers == 1:
        assert imported == []
    else:  # the control: the same check sees the process code when it is used
        assert "digitnet.nn.parallel" in imported and "multiprocessing.connection" in imported


def test_fit_settings_are_checked_once_and_stored_as_python_numbers():
    settings = FitSettings(
        epochs=np.int64(2), batch_size=np.int32(8), l2=np.float32(1e-4), patience=np.int64(1)
    )
    assert (type(settings.epochs), type(settings.batch_size), type(settings.patience)) == (int, int, int)
    assert type(settings.l2) is float and settings.l2 == pytest.approx(1e-4)
    x, y = toy_data(64)
    history = toy_net().fit(
        x, y, optimizer=Adam(), epochs=np.int64(2), batch_size=np.int64(16), l2=np.float32(1e-4)
    )
    assert len(history) == 2


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("epochs", 0, "epochs must be a positive integer, got 0"),
        ("batch_size", 2.5, "batch_size must be a positive integer, got 2.5"),
        ("l2", True, "l2 must be a finite number >= 0, got True"),
        ("l2", -1e-3, "l2 must be a finite number >= 0"),
        ("l2", float("nan"), "l2 must be a finite number >= 0"),
        ("patience", 0, "patience must be a positive integer"),
        ("class_weights", [1.0, -1.0, 1.0], "class_weights must be one number >= 0 per class"),
        ("clip_norm", 0.0, "clip_norm must be a positive finite number or None, got 0.0"),
        ("clip_norm", float("inf"), "clip_norm must be a positive finite number or None"),
    ],
)
def test_bad_fit_settings_are_refused_by_name(setting, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        FitSettings(**{setting: value})


def test_a_misspelt_setting_names_fit_and_the_settings_there_are():
    x, y = toy_data(32)
    with pytest.raises(
        TypeError, match=r"Sequential.fit\(\) got unknown settings \['epoch'\]; the settings are"
    ):
        toy_net().fit(x, y, optimizer=Adam(), epoch=3)


def test_fit_settings_with_class_weights_can_be_compared_and_printed():
    settings = FitSettings(class_weights=np.ones(3))
    assert settings != FitSettings(class_weights=np.ones(3))  # compared as objects: arrays have no one truth
    assert "class_weights=array" in repr(settings)


class _Steps(Callback):
    """Each batch's parameter vector after its step, and the gradient it stepped with."""

    def __init__(self):
        self.values, self.grad_norms = [], []

    def on_batch_end(self, epoch, batch, loss):
        self.values.append(self.model.parameters.values.copy())
        self.grad_norms.append(float(np.linalg.norm(self.model.parameters.grads.astype(np.float64))))


def test_gradient_clipping_bounds_every_step_and_keeps_its_direction():
    """With plain SGD a step is θ ← θ - η·g: clipped to ‖g‖ <= c, no step is longer than η·c, and a
    clipped step points where the unclipped gradient did."""
    x, y = toy_data()
    lr, c = 0.5, 0.05
    net, steps = toy_net(dropout=0.0), _Steps()
    start = net.parameters.values.copy()
    net.fit(x, y, optimizer=SGD(lr), epochs=2, batch_size=16, rng=1, clip_norm=c, callbacks=[steps])
    moves = np.linalg.norm(np.diff(np.stack([start, *steps.values]).astype(np.float64), axis=0), axis=1)
    assert moves.max() <= lr * c * (1 + 1e-4)
    assert (np.array(steps.grad_norms) <= c * (1 + 1e-4)).all()
    assert np.isclose(moves, lr * c, rtol=1e-3).mean() > 0.5  # most batches were clipped
    # one full batch: the clipped step is -η·c·g/‖g‖ for the gradient g at the start
    probe, full = toy_net(dropout=0.0), _Steps()
    probe.train_step(x, y)
    g = probe.parameters.grads.astype(np.float64)
    net = toy_net(dropout=0.0)
    net.fit(x, y, optimizer=SGD(lr), epochs=1, batch_size=len(x), rng=1, clip_norm=c, callbacks=[full])
    step = full.values[0].astype(np.float64) - start
    np.testing.assert_allclose(step, -lr * c * g / np.linalg.norm(g), rtol=0, atol=1e-6)


def test_a_clip_norm_never_reached_changes_nothing_bit_for_bit():
    x, y = toy_data()
    weights = []
    for clip in (None, 1e30):
        net = toy_net(seed=2)
        net.fit(x, y, optimizer=Adam(1e-2), epochs=2, batch_size=32, rng=4, clip_norm=clip)
        weights.append(net.parameters.values.copy())
    np.testing.assert_array_equal(weights[0], weights[1])


def test_clipping_still_steps_when_the_float32_sum_of_squares_overflows():
    """Finite gradients of norm above 1.8e19 square past float32's range: the norm is taken in float64."""
    x, y = toy_data(64)
    net, steps = toy_net(dropout=0.0), _Steps()
    net.layers[0].params["W"][...] *= 1e20  # absurd weights: absurd, finite gradients
    start = net.parameters.values.copy()
    net.fit(x, y, optimizer=SGD(1.0), epochs=1, batch_size=64, rng=0, clip_norm=1.0, callbacks=[steps])
    move = np.linalg.norm(steps.values[0].astype(np.float64) - start)
    assert 0.5 < move <= 1.0 + 1e-3  # one step of length at most η·c = 1, not none
