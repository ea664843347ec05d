"""Data-parallel training: replicas share the weights, and their shards add up to the batch's gradient."""

import threading

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


def mlp(seed=0):
    return Sequential([Dense(8), ReLU(), Dense(3)], input_shape=(12,), rng=seed)


def whole_batch(model, x, y, weights=None):
    """Loss, gradient (a copy of flat_grads) and predictions of one model on the whole batch."""
    out = model.forward(x, training=True, rng=np.random.default_rng(0))
    loss, grad = model.cost.loss_and_gradient(out, y, weights)
    model.backward(grad, input_grad=False)
    return loss, model.flat_grads.copy(), out.argmax(axis=1)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_shards_add_up_to_the_whole_batch(workers, n):
    x, y = blobs(n)
    model = mlp()
    expected_loss, expected_grad, expected_pred = whole_batch(model, x, y)
    model.flat_grads[...] = np.nan  # must be overwritten, not added to
    replicas = Replicas(model, workers, np.random.default_rng(0))
    predicted = np.full(n, -1)
    loss = replicas.forward_backward(x, y, None, predicted)
    replicas.close()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.flat_grads, expected_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(predicted, expected_pred)


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
        loss = replicas.forward_backward(x, y, None, np.empty(10, np.intp))
    replicas.close()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.flat_grads, expected_grad, rtol=1e-5, atol=1e-7)


def test_weighted_examples_are_shared_by_weight_and_a_weightless_shard_adds_nothing():
    x, y = blobs(8)
    y[:4] = 0  # the first shard: only class 0, which weighs nothing
    y[4:] = [1, 2, 1, 2]
    weights = np.where(y == 0, 0.0, np.where(y == 1, 1.0, 3.0))
    model = mlp()
    expected_loss, expected_grad, _ = whole_batch(model, x, y, weights)
    replicas = Replicas(model, 2, np.random.default_rng(0))
    with np.errstate(all="raise"):  # the weightless shard's 0/0 is expected, and ignored as in fit
        loss = replicas.forward_backward(x, y, weights, np.empty(8, np.intp))
    replicas.close()
    assert np.isfinite(model.flat_grads).all()
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.flat_grads, expected_grad, rtol=1e-5, atol=1e-7)


def test_a_batch_that_weighs_nothing_has_no_mean_cost_as_with_one_worker():
    x, y = blobs(8)
    replicas = Replicas(mlp(), 2, np.random.default_rng(0))
    assert np.isnan(replicas.forward_backward(x, y, np.zeros(8), np.empty(8, np.intp)))
    replicas.close()


def test_a_replica_shares_the_weights_but_not_gradients_or_buffers():
    model = Sequential([Dense(4), BatchNorm(), ReLU(), Dense(3)], input_shape=(12,), rng=0)
    twin = model.replica()
    assert np.shares_memory(twin.flat_params, model.flat_params)
    for mine, theirs in zip(model.layers, twin.layers):
        for k in mine.params:
            assert np.shares_memory(mine.params[k], theirs.params[k])
            assert not np.shares_memory(mine.grads[k], theirs.grads[k])
        for k in mine.buffers:
            np.testing.assert_array_equal(mine.buffers[k], theirs.buffers[k])
            assert not np.shares_memory(mine.buffers[k], theirs.buffers[k])
    model.flat_params += 1  # an optimiser step on the model is a step on every replica
    np.testing.assert_array_equal(twin.flat_params, model.flat_params)


def test_batch_norm_keeps_the_first_shards_running_statistics():
    x, y = blobs(10)
    model = Sequential([Dense(4), BatchNorm(), ReLU(), Dense(3)], input_shape=(12,), rng=0)
    alone = Sequential.from_config(model.config())
    alone.set_state(model.named_state())
    alone.forward(x[:5], training=True)  # what the first of two shards sees
    replicas = Replicas(model, 2, np.random.default_rng(0))
    replicas.forward_backward(x, y, None, np.empty(10, np.intp))
    replicas.close()
    for name, value in alone.named_buffers().items():
        np.testing.assert_allclose(model.named_buffers()[name], value, rtol=1e-6)


def net_with_dropout(seed=3):
    return Sequential([Dense(16), ReLU(), Dropout(0.3), Dense(3)], input_shape=(12,), rng=seed)


def test_fit_with_workers_learns_is_reproducible_and_cleans_up():
    x, y = blobs(300)
    threads_before = threading.active_count()
    blas_before = [pool["num_threads"] for pool in threadpool_info()]
    seen = set()

    class BlasThreads(Callback):
        def on_batch_end(self, epoch, batch, loss):
            seen.update(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")

    runs = []
    for _ in range(2):
        net = net_with_dropout()
        net.fit(
            x, y, optimizer=Adam(1e-2), epochs=6, batch_size=32, rng=5, workers=2, callbacks=[BlasThreads()]
        )
        runs.append(net.flat_params.copy())
    assert seen == {1}  # while the workers train, one BLAS thread each
    np.testing.assert_array_equal(runs[0], runs[1])  # same seed, same workers: the same weights
    assert net.evaluate(x, y)["accuracy"] > 0.95
    assert threading.active_count() == threads_before  # the worker threads are gone
    assert [pool["num_threads"] for pool in threadpool_info()] == blas_before  # the BLAS threads restored


def test_one_worker_is_the_plain_loop():
    x, y = blobs(100)
    runs = []
    for kwargs in ({}, {"workers": 1}):
        net = net_with_dropout()
        net.fit(x, y, optimizer=Adam(1e-2), epochs=2, batch_size=16, rng=5, **kwargs)
        runs.append(net.flat_params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_bad_worker_counts_are_refused(workers):
    x, y = blobs(20)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        mlp().fit(x, y, optimizer=Adam(), epochs=1, batch_size=8, workers=workers)


def test_an_error_in_a_worker_thread_reaches_the_caller():
    x, y = blobs(16)
    model = mlp()
    replicas = Replicas(model, 2, np.random.default_rng(0))

    def fail(*args, **kwargs):
        raise RuntimeError("boom in the second shard")

    replicas.models[1].layers[0].forward = fail
    with pytest.raises(RuntimeError, match="boom in the second shard"):
        replicas.forward_backward(x, y, None, np.empty(16, np.intp))
    replicas.close()
