"""Every compiled kernel against its NumPy twin: the layer (or optimiser, or cost) run once on each path.

The NumPy layers are the reference; a kernel must give their results within float32 rounding on any
shape: odd sizes, strides and padding, a batch of one, ties in max-pooling, constant channels in batch
normalisation, and float64 (what gradcheck runs in). Skipped where this machine cannot build the kernels.
"""

import numpy as np
import pytest

from digitnet import kernels
from digitnet.nn import SGD, Adam
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.conv import Conv2D
from digitnet.nn.costs import CrossEntropy
from digitnet.nn.dropout import Dropout
from digitnet.nn.pooling import AvgPool2D, MaxPool2D


@pytest.fixture(autouse=True)
def needs_kernels(on_path):
    on_path("native")
    try:
        if kernels.native() is None:
            pytest.skip("the compiled kernels cannot be built here")
    except Exception as exc:  # noqa: BLE001 (any reason to have no kernels skips)
        pytest.skip(f"the compiled kernels cannot be built here: {exc}")


def tolerance(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def both_paths(on_path, make_layer, x, dtype, training=True, seed=3):
    """(output, dL/dx, parameter gradients) of a fresh layer on each path: [native, numpy]."""
    results = []
    for path in ("native", "numpy"):
        on_path(path)
        layer = make_layer()
        layer.build(x.shape[1:], np.random.default_rng(seed))
        for name in layer.params:
            layer.params[name] = layer.params[name].astype(dtype)
            layer.grads[name] = np.zeros_like(layer.params[name])
        for name in layer.buffers:
            layer.buffers[name] = layer.buffers[name].astype(dtype)
        y = layer.forward(x.astype(dtype), training=training, rng=np.random.default_rng(seed))
        g = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
        dx = layer.backward(g)
        results.append((y, dx, {k: v.copy() for k, v in layer.grads.items()}, layer))
    return results


def assert_same(native, numpy, dtype):
    for got, want in zip(native[:2], numpy[:2]):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tolerance(dtype))
    for name in numpy[2]:
        scale = max(1.0, float(np.max(np.abs(numpy[2][name]))))
        np.testing.assert_allclose(native[2][name], numpy[2][name], rtol=1e-4, atol=1e-5 * scale)


CONVOLUTIONS = [  # (filters, kernel_size, stride, padding), input (N, C, H, W)
    ((8, 5, 1, 2), (3, 4, 14, 14)),
    ((6, 5, 1, 0), (1, 1, 28, 28)),
    ((5, 3, 2, 1), (2, 3, 11, 9)),
    ((4, 3, 1, "same"), (2, 2, 7, 5)),
    ((3, 2, 3, 0), (3, 2, 8, 7)),
    ((2, 1, 1, 0), (1, 3, 5, 5)),
    ((7, 4, 2, 3), (2, 1, 6, 9)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("args", "shape"), CONVOLUTIONS, ids=repr)
def test_convolution(on_path, args, shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape)
    native, numpy = both_paths(on_path, lambda: Conv2D(*args), x, dtype)
    assert_same(native, numpy, dtype)
    assert native[3].valid_columns and not numpy[3].valid_columns  # each path really ran


POOLS = [  # (pool_size, stride), input
    ((2, None), (2, 3, 28, 28)),
    ((2, None), (1, 1, 9, 7)),
    ((3, None), (2, 2, 10, 11)),
    ((3, 2), (2, 3, 9, 9)),
    ((2, 1), (1, 2, 5, 6)),
    ((4, 3), (3, 1, 13, 8)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("args", "shape"), POOLS, ids=repr)
def test_max_pooling(on_path, args, shape, dtype):
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal(shape) * 2) / 2  # many ties: values on a grid of 0.5
    native, numpy = both_paths(on_path, lambda: MaxPool2D(*args), x, dtype)
    np.testing.assert_array_equal(native[0], numpy[0])  # a maximum is exact
    assert_same(native, numpy, dtype)
    assert native[3].argmax is not None and numpy[3].argmax is None  # each path really ran


def test_max_pooling_ties_go_to_the_first_tap_in_row_major_order(on_path):
    x = np.array([[[[0.0, 2.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0]]]], np.float32)
    native, numpy = both_paths(on_path, MaxPool2D, x, np.float32)
    np.testing.assert_array_equal(native[3].argmax, [[[[1, 0]]]])
    np.testing.assert_array_equal(native[1], numpy[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 7, 7), (1, 2, 5, 3), (2, 5, 1, 1), (3, 4, 28, 28)], ids=repr)
def test_batch_norm_on_images(on_path, shape, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 3 + 5
    native, numpy = both_paths(on_path, BatchNorm, x, dtype)
    assert_same(native, numpy, dtype)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(native[3].buffers[name], numpy[3].buffers[name], **tolerance(dtype))


def test_batch_norm_with_a_constant_channel(on_path):
    x = np.random.default_rng(4).standard_normal((3, 2, 4, 4)).astype(np.float32)
    x[:, 1] = 7.25  # σ² = 0: x̂ = 0, ε keeps it finite
    native, numpy = both_paths(on_path, BatchNorm, x, np.float32)
    assert np.all(np.isfinite(native[1]))
    assert_same(native, numpy, np.float32)


def test_batch_norm_at_inference_and_average_pooling_keep_the_numpy_path(on_path):
    """Passes without a kernel give the same results on either path (bit for bit: the same code)."""
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6))
    for make, training in ((BatchNorm, False), (AvgPool2D, True)):
        native, numpy = both_paths(on_path, make, x, np.float32, training=training)
        np.testing.assert_array_equal(native[0], numpy[0])
        np.testing.assert_array_equal(native[1], numpy[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 10), (64, 10), (7, 3)], ids=repr)
def test_softmax_cross_entropy(on_path, shape, dtype):
    rng = np.random.default_rng(6)
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    z[0, 0] = 80.0  # a large logit: log-sum-exp must not overflow
    labels = rng.integers(0, shape[1], shape[0])
    got = []
    for path in ("native", "numpy"):
        on_path(path)
        got.append(CrossEntropy().loss_and_gradient(z, labels))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-5)
    np.testing.assert_allclose(got[0][1], got[1][1], **tolerance(dtype))
    with pytest.raises(IndexError, match="class ids"):
        on_path("native")
        CrossEntropy().loss_and_gradient(z, np.full(shape[0], shape[1]))


@pytest.mark.parametrize(
    "make",
    [lambda: Adam(3e-3), lambda: SGD(0.1), lambda: SGD(0.05, momentum=0.9), lambda: SGD(0.05, 0.9, True)],
    ids=["adam", "sgd", "momentum", "nesterov"],
)
def test_optimiser_updates_are_the_twins_arithmetic(on_path, make):
    """The same float operations in the same order, step after step. Here that gives the same bits, but
    the test only asks for a few units of float32 rounding: the kernel and NumPy are two computations, and
    no test may rest on one CPU's or one compiler's rounding."""
    rng = np.random.default_rng(7)
    start = [
        rng.standard_normal(s).astype(np.float32) for s in ((100_003,), (300, 70), (70,))
    ]  # large first: the kernel runs
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in start] for _ in range(5)]
    ends = []
    for path in ("native", "numpy"):
        on_path(path)
        params, optimiser = [p.copy() for p in start], make()
        for g in grads:
            optimiser.step(params, g)
        ends.append(params)
    for got, want in zip(*ends):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_dropout_draws_the_same_mask(on_path):
    x = np.random.default_rng(8).standard_normal((16, 33)).astype(np.float32)
    native, numpy = both_paths(on_path, lambda: Dropout(0.3), x, np.float32)
    np.testing.assert_array_equal(native[0], numpy[0])
    np.testing.assert_array_equal(native[1], numpy[1])


def test_batch_norm_kernel_with_its_relu_is_relu_of_the_layer(on_path):
    """The kernel's fused ReLU (forward and backward) against BatchNorm followed by ReLU on the NumPy path."""
    from digitnet.nn.activations import ReLU

    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    on_path("numpy")
    norm, relu = BatchNorm(), ReLU()
    norm.build(x.shape[1:], None)
    relu.build(x.shape[1:], None)
    norm.params["gamma"][:] = [1.5, -0.5, 2.0, 0.25]
    want_y = relu.forward(norm.forward(x, training=True))
    want_dx = norm.backward(relu.backward(g))
    on_path("native")
    fast = kernels.native()
    gamma, beta = norm.params["gamma"], norm.params["beta"]
    y, mean, _, inv_std = fast.batchnorm_forward(x, gamma, beta, norm.eps, relu=True)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(beta)
    dx = fast.batchnorm_backward(g, x, y, gamma, mean, inv_std, dgamma, dbeta, True, relu=True)
    np.testing.assert_allclose(y, want_y, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(dx, want_dx, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(dgamma, norm.grads["gamma"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbeta, norm.grads["beta"], rtol=1e-4, atol=1e-5)


def test_a_float64_batch_into_a_float32_network_gives_the_numpy_paths_gradients(on_path):
    """Arrays of mixed dtypes go to NumPy (or are cast first): never a kernel reading one type as another."""
    from digitnet.training.config import TrainConfig
    from digitnet.training.runs import build_model

    config = TrainConfig(conv=((4,), (6,)), kernel_size=3, batch_norm=True, hidden=(16,), seed=3)
    x = np.random.default_rng(0).random((8, 1, 28, 28))  # float64, as NumPy's generators give
    grads = []
    for path in ("native", "numpy"):
        on_path(path)
        model = build_model(config)
        out = model.forward(x, training=True, rng=np.random.default_rng(1))
        _, g = model.cost.loss_and_gradient(out, np.arange(8) % 10)
        model.backward(g)
        grads.append(model.parameters.grads.copy())
    assert np.all(np.isfinite(grads[0]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-3, atol=1e-5)


def test_a_kernel_refuses_an_array_of_another_dtype_or_size():
    fast = kernels.native()
    g = np.ones((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous float32 array of 3 values, got float64 \\(3,\\)"):
        fast.conv_gradient(g, np.empty((3, 32), np.float32), np.empty(3))
    with pytest.raises(ValueError, match="of 96 values, got float32 \\(3, 31\\)"):
        fast.conv_gradient(g, np.empty((3, 31), np.float32), np.empty(3, np.float32))


def test_max_pooling_refuses_a_gradient_of_another_batch(on_path):
    on_path("native")
    pool = MaxPool2D()
    pool.build((2, 6, 6), None)
    pool.forward(np.ones((1, 2, 6, 6), np.float32))
    with pytest.raises(ValueError, match="outputs of shape \\(1, 2, 3, 3\\), got a gradient of shape"):
        pool.backward(np.ones((64, 2, 3, 3), np.float32))


def test_batch_norm_takes_a_strided_view(on_path):
    x = np.random.default_rng(10).standard_normal((3, 2, 6, 10)).astype(np.float32)[..., ::2]
    native, numpy = both_paths(on_path, BatchNorm, x, np.float32)
    assert_same(native, numpy, np.float32)


@pytest.mark.parametrize(
    "labels", [np.array([[0, 1], [1, 0]]), np.array([0.0, 1.0]), np.array([True, False])], ids=repr
)
def test_labels_that_are_not_class_ids_meet_the_numpy_paths_answer(on_path, labels):
    z = np.zeros((2, 2), np.float32)
    answers = []
    for path in ("native", "numpy"):
        on_path(path)
        try:
            answers.append(CrossEntropy().loss_and_gradient(z, labels))
        except Exception as exc:  # noqa: BLE001 (the kind of error is what is compared)
            answers.append(type(exc))
    if isinstance(answers[1], type):
        assert answers[0] is answers[1]
    else:
        np.testing.assert_array_equal(answers[0][1], answers[1][1])
