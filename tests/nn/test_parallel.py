"""Data-parallel training: replicas share the weights, and their shards add up to the batch's gradient."""

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from digitnet.nn import (
    Adam,
    BatchNorm,
    Callback,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
)
from digitnet.nn.parallel import Replicas


def blobs(n=90, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((3, d))[y] * 2 + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def child_processes() -> set[int]:
    """Process ids whose parent is this process (Linux's /proc; an empty set elsewhere)."""
    me, found = str(Path("/proc/self").resolve().name), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


def mlp(seed=0):
    return Sequential([Dense(8), ReLU(), Dense(3)], input_shape=(12,), rng=seed)


def whole_batch(model, x, y, weights=None):
    """Loss, gradient (a copy of parameters.grads) and predictions of one model on the whole batch."""
    out = model.forward(x, training=True, rng=np.random.default_rng(0))
    loss, grad = model.cost.loss_and_gradient(out, y, weights)
    model.backward(grad, input_grad=False)
    return loss, model.parameters.grads.copy(), out.argmax(axis=1)


def clear_winners(model, x) -> np.ndarray:
    """Examples whose top two outputs differ by more than float32 rounding could move them: products of
    another shape (a shard instead of the whole batch) may round differently and swap a near-tie."""
    top2 = np.sort(model.forward(x), axis=1)[:, -2:]  # (N, 2)
    return top2[:, 1] - top2[:, 0] > 1e-4 * np.abs(top2).max()


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_shards_add_up_to_the_whole_batch(workers, n):
    x, y = blobs(n)
    model = mlp()
    expected_loss, expected_grad, expected_pred = whole_batch(model, x, y)
    clear = clear_winners(model, x)
    model.parameters.grads[...] = np.nan  # must be overwritten, not added to
    replicas = Replicas(model, workers, np.random.default_rng(0))
    predicted = np.full(n, -1)
    loss = replicas.train_step(x, y, None, predicted)
    replicas.close()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.parameters.grads, expected_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(predicted[clear], expected_pred[clear])


def test_shards_of_a_convolutional_network_add_up_to_the_whole_batch():
    def cnn():
        layers = [Conv2D(3, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(3)]
        return Sequential(layers, input_shape=(1, 6, 6), rng=1)

    rng = np.random.default_rng(2)
    x, y = rng.random((10, 1, 6, 6), dtype=np.float32), rng.integers(0, 3, 10)
    model = cnn()
    expected_loss, expected_grad, _ = whole_batch(model, x, y)
    replicas = Replicas(model, 2, np.random.default_rng(0))
    for _ in range(2):  # the second pass reuses each replica's own work arrays
        loss = replicas.train_step(x, y, None, np.empty(10, np.intp))
    replicas.close()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.parameters.grads, expected_grad, rtol=1e-5, atol=1e-7)


def test_weighted_examples_are_shared_by_weight_and_a_weightless_shard_adds_nothing():
    x, y = blobs(8)
    y[:4] = 0  # the first shard: only class 0, which weighs nothing
    y[4:] = [1, 2, 1, 2]
    weights = np.where(y == 0, 0.0, np.where(y == 1, 1.0, 3.0))
    model = mlp()
    expected_loss, expected_grad, _ = whole_batch(model, x, y, weights)
    replicas = Replicas(model, 2, np.random.default_rng(0))
    with np.errstate(all="raise"):  # the weightless shard's 0/0 is expected, and ignored as in fit
        loss = replicas.train_step(x, y, weights, np.empty(8, np.intp))
    replicas.close()
    assert np.isfinite(model.parameters.grads).all()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.parameters.grads, expected_grad, rtol=1e-5, atol=1e-7)


def test_a_batch_that_weighs_nothing_has_no_mean_cost_as_with_one_worker():
    x, y = blobs(8)
    replicas = Replicas(mlp(), 2, np.random.default_rng(0))
    assert np.isnan(replicas.train_step(x, y, np.zeros(8), np.empty(8, np.intp)))
    replicas.close()


def test_workers_see_every_update_of_the_weights_and_the_model_gets_them_back():
    x, y = blobs(10)
    model = mlp()
    replicas = Replicas(model, 2, np.random.default_rng(0), batch_size=10)
    shared = model.parameters.values
    model.parameters.values *= 0.5  # an optimiser step, made in place on the weights the worker shares
    check = mlp()
    check.parameters.values[...] = model.parameters.values
    _, expected, _ = whole_batch(check, x, y)
    replicas.train_step(x, y, None, np.empty(10, np.intp))
    np.testing.assert_allclose(model.parameters.grads, expected, rtol=1e-5, atol=1e-7)
    replicas.close()
    assert not np.shares_memory(model.parameters.values, shared)  # back in the model's own memory
    np.testing.assert_array_equal(model.parameters.values, check.parameters.values)
    for layer in model.layers:
        for p in layer.params.values():
            assert np.shares_memory(p, model.parameters.values)


def test_batch_norm_keeps_the_first_shards_running_statistics():
    x, y = blobs(10)
    model = Sequential([Dense(4), BatchNorm(), ReLU(), Dense(3)], input_shape=(12,), rng=0)
    alone = Sequential.from_config(model.config())
    alone.set_state(model.named_state())
    alone.forward(x[:5], training=True)  # what the first of two shards sees
    replicas = Replicas(model, 2, np.random.default_rng(0))
    replicas.train_step(x, y, None, np.empty(10, np.intp))
    replicas.close()
    for name, value in alone.named_buffers().items():
        np.testing.assert_allclose(model.named_buffers()[name], value, rtol=1e-6)


def net_with_dropout(seed=3):
    return Sequential([Dense(16), ReLU(), Dropout(0.3), Dense(3)], input_shape=(12,), rng=seed)


def test_fit_with_workers_learns_is_reproducible_and_cleans_up():
    x, y = blobs(300)
    children_before = child_processes()
    blas_before = [pool["num_threads"] for pool in threadpool_info()]
    seen, workers_seen = set(), set()

    class BlasThreads(Callback):
        def on_batch_end(self, epoch, batch, loss):
            seen.update(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
            workers_seen.update(child_processes() - children_before)

    runs = []
    for _ in range(2):
        net = net_with_dropout()
        net.fit(
            x, y, optimizer=Adam(1e-2), epochs=6, batch_size=32, rng=5, workers=2, callbacks=[BlasThreads()]
        )
        runs.append(net.parameters.values.copy())
    assert seen == {1}  # while the workers train, one BLAS thread each
    np.testing.assert_array_equal(runs[0], runs[1])  # same seed, same workers: the same weights
    assert net.evaluate(x, y)["accuracy"] > 0.95
    assert len(workers_seen) == 2 or not Path("/proc").is_dir()  # one worker process per run
    assert child_processes() == children_before  # the worker processes are gone
    assert [pool["num_threads"] for pool in threadpool_info()] == blas_before  # the BLAS threads restored


def test_one_worker_is_the_plain_loop():
    x, y = blobs(100)
    runs = []
    for kwargs in ({}, {"workers": 1}):
        net = net_with_dropout()
        net.fit(x, y, optimizer=Adam(1e-2), epochs=2, batch_size=16, rng=5, **kwargs)
        runs.append(net.parameters.values.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("workers", [0, -1, 65, 1.5, "2", True])
def test_bad_worker_counts_are_refused(workers):
    x, y = blobs(20)
    with pytest.raises(ValueError, match="workers must be an integer from 1 to 64"):
        mlp().fit(x, y, optimizer=Adam(), epochs=1, batch_size=8, workers=workers)


def test_an_error_in_a_worker_reaches_the_caller_with_its_traceback():
    x, y = blobs(16)
    y[8:] = 7  # only the worker's shard has labels the 3-class network cannot have
    replicas = Replicas(mlp(), 2, np.random.default_rng(0), batch_size=16)
    with pytest.raises(RuntimeError, match="a training worker failed:(.|\n)*IndexError"):
        replicas.train_step(x, y, None, np.empty(16, np.intp))
    replicas.close()


@pytest.mark.parametrize("gone", [False, True], ids=["dying", "gone before its shard is sent"])
def test_a_worker_that_dies_is_reported(gone):
    x, y = blobs(16)
    replicas = Replicas(mlp(), 2, np.random.default_rng(0), batch_size=16)
    replicas.workers[0].process.kill()
    if gone:  # its end of the pipe is closed: sending the shard breaks the pipe
        replicas.workers[0].process.wait()
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        replicas.train_step(x, y, None, np.empty(16, np.intp))
    replicas.close()


@pytest.mark.parametrize("workers", [0, 2.0, True])
def test_replicas_refuse_a_worker_count_that_is_not_a_positive_integer(workers):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        Replicas(mlp(), workers, np.random.default_rng(0))
