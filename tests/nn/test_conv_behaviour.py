"""Conv2D, MaxPool2D, AvgPool2D, BatchNorm and Flatten as documented: shapes and float32, gradient arrays
filled in place, hand-worked pooling and batch statistics, initialisers, configs rebuilt by name, arguments
and shapes refused clearly, and a small convolutional network that learns."""

import numpy as np
import pytest

from digitnet.nn import Adam, Dense, ReLU
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.conv import Conv2D
from digitnet.nn.layer import LAYERS
from digitnet.nn.model import Sequential
from digitnet.nn.pooling import AvgPool2D, MaxPool2D
from digitnet.nn.reshape import Flatten


def test_backward_fills_the_gradient_arrays_in_place_and_can_skip_the_input_gradient():
    rng = np.random.default_rng(4)
    for layer, shape in [(Conv2D(3, 3, padding=1), (2, 5, 5)), (BatchNorm(), (2, 3, 3))]:
        layer.build(shape, np.random.default_rng(0))
        arrays = dict(layer.grads)
        x = rng.standard_normal((4, *shape), dtype=np.float32)
        g = rng.standard_normal(layer.forward(x, training=True).shape, dtype=np.float32)
        dx = layer.backward(g)
        full = {k: v.copy() for k, v in layer.grads.items()}
        layer.forward(x, training=True)
        assert layer.backward(g, need_input_grad=False) is None
        for k, v in layer.grads.items():
            assert v is arrays[k]
            np.testing.assert_array_equal(v, full[k])
        assert dx.shape == x.shape and dx.dtype == np.float32


def test_conv_reuses_its_column_array_only_while_training_and_without_leaking_state():
    conv = Conv2D(3, 3, padding=1)
    conv.build((2, 6, 6), np.random.default_rng(0))
    rng = np.random.default_rng(12)
    x1, x2, x3 = (rng.random((n, 2, 6, 6), dtype=np.float32) for n in (4, 4, 3))
    conv.forward(x1, training=True)
    first = conv.patches
    out2 = conv.forward(x2, training=True)
    assert np.shares_memory(conv.patches, first)  # same array, refilled
    np.testing.assert_array_equal(out2, conv.forward(x2))
    assert not np.shares_memory(conv.patches, first)  # inference: a fresh array
    np.testing.assert_array_equal(conv.forward(x3, training=True), conv.forward(x3))  # a smaller last batch


@pytest.mark.parametrize(
    "layer, shape, out_shape",
    [
        (Conv2D(6, 5), (1, 28, 28), (6, 24, 24)),
        (Conv2D(8, 3, padding="same"), (2, 9, 7), (8, 9, 7)),
        (Conv2D(4, 3, stride=2, padding=1), (1, 28, 28), (4, 14, 14)),
        (MaxPool2D(2), (6, 24, 24), (6, 12, 12)),
        (MaxPool2D(2), (3, 5, 5), (3, 2, 2)),
        (AvgPool2D(3, stride=2), (3, 7, 9), (3, 3, 4)),
        (BatchNorm(), (16, 4, 4), (16, 4, 4)),
        (BatchNorm(), (84,), (84,)),
        (Flatten(), (16, 4, 4), (256,)),
    ],
    ids=repr,
)
def test_shapes_and_float32_throughout(layer, shape, out_shape):
    assert layer.build(shape, np.random.default_rng(0)) == out_shape
    assert all(p.dtype == np.float32 for p in layer.params.values())
    x = np.random.default_rng(5).random((2, *shape), dtype=np.float32)
    for training in (True, False):
        out = layer.forward(x, training=training)
        assert out.shape == (2, *out_shape) and out.dtype == np.float32
        dx = layer.backward(np.ones_like(out))
        assert dx.shape == x.shape and dx.dtype == np.float32


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0]]]])  # (1, 1, 2, 4): two tied windows
    pool = MaxPool2D(2)
    pool.build((1, 2, 4), None)
    np.testing.assert_array_equal(pool.forward(x), [[[[1.0, 2.0]]]])
    dx = pool.backward(np.array([[[[5.0, 7.0]]]]))
    np.testing.assert_array_equal(dx, [[[[5.0, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_conv_initialisers_draw_from_the_documented_fans():
    conv = Conv2D(64, 3, init="he")
    conv.build((16, 5, 5), np.random.default_rng(0))
    w = conv.params["W"]
    assert w.shape == (64, 16, 3, 3)
    assert w.std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)  # fan_in = C·K·K
    np.testing.assert_array_equal(conv.params["b"], 0)
    glorot = Conv2D(64, 3)
    glorot.build((16, 5, 5), np.random.default_rng(0))
    assert glorot.init == "glorot"
    assert np.abs(glorot.params["W"]).max() <= np.sqrt(6 / (16 * 9 + 64))  # fan_out = F


def test_batchnorm_running_statistics_by_hand():
    bn = BatchNorm(momentum=0.25)
    bn.build((2,), None)
    x = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 3.0]], np.float32)
    bn.forward(x, training=True)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.25 * np.array([3.0, 1.0]), rtol=1e-6)
    unbiased = np.array([4.0, 3.0])  # Σ(x - μ)² / (M - 1)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.75 + 0.25 * unbiased, rtol=1e-6)
    assert "running_mean" not in bn.params and bn.decayed == ()


def test_config_rebuilds_every_layer_by_name():
    layers = [
        Conv2D(4, 3, stride=1, padding="same"),
        ReLU(),
        MaxPool2D(2),
        Conv2D(6, 3, stride=2, padding=1, init="he"),
        AvgPool2D(2, stride=1),
        BatchNorm(momentum=0.2, eps=1e-3),
        Flatten(),
        Dense(10),
    ]
    net = Sequential(layers, input_shape=(1, 12, 12), rng=0)
    clone = Sequential.from_config(net.config())
    assert clone.config() == net.config()
    assert [layer.output_shape for layer in clone.layers] == [layer.output_shape for layer in net.layers]
    for name in ("Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm", "Flatten"):
        assert name in LAYERS
    conv = {"filters": 4, "kernel_size": 3, "stride": 1, "padding": "same", "init": "he"}  # ReLU follows
    assert net.layers[0].config() == conv
    assert net.layers[2].config() == {"pool_size": 2, "stride": None}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2D(0, 3), "filters must be a positive integer, got 0"),
        (lambda: Conv2D(2.5, 3), "filters must be a positive integer, got 2.5"),
        (lambda: Conv2D(True, 3), "filters must be a positive integer, got True"),
        (lambda: Conv2D(4, 0), "kernel_size must be a positive integer, got 0"),
        (lambda: Conv2D(4, 3, stride=0), "stride must be a positive integer, got 0"),
        (lambda: Conv2D(4, 3, padding=-1), 'padding must be a non-negative integer or "same", got -1'),
        (lambda: Conv2D(4, 3, padding="valid"), "got 'valid'"),
        (lambda: Conv2D(4, 4, padding="same"), "needs stride 1 and an odd kernel_size"),
        (lambda: Conv2D(4, 3, stride=2, padding="same"), "needs stride 1 and an odd kernel_size"),
        (lambda: Conv2D(4, 3, init="xavier"), "unknown initialiser 'xavier'; choose one of"),
        (lambda: MaxPool2D(0), "MaxPool2D pool_size must be a positive integer, got 0"),
        (lambda: MaxPool2D(2, stride=-1), "MaxPool2D stride must be a positive integer, got -1"),
        (lambda: AvgPool2D(1.5), "AvgPool2D pool_size must be a positive integer, got 1.5"),
        (lambda: BatchNorm(momentum=1.5), r"momentum must be a number in \[0, 1\], got 1.5"),
        (lambda: BatchNorm(momentum="fast"), "momentum must be a number"),
        (lambda: BatchNorm(eps=0.0), "eps must be a positive number, got 0.0"),
        (lambda: BatchNorm(eps=None), "eps must be a positive number, got None"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "layer, shape, message",
    [
        (
            Conv2D(4, 3),
            (784,),
            r"Conv2D expects images of shape \(N, C, H, W\), got per-example shape \(784,\)",
        ),
        (Conv2D(4, 5), (1, 3, 3), "kernel 5x5 is larger than its padded input 3x3"),
        (Conv2D(4, 5, padding=1), (1, 2, 2), "larger than its padded input 4x4"),
        (MaxPool2D(3), (1, 2, 4), "MaxPool2D window 3x3 is larger than its input 2x4"),
        (AvgPool2D(2), (4, 4), "AvgPool2D expects images"),
        (BatchNorm(), (3, 4), r"BatchNorm expects flat inputs \(N, D\) or images \(N, C, H, W\)"),
        (Flatten(), (), "Flatten needs per-example inputs with at least one axis"),
    ],
    ids=repr,
)
def test_shapes_that_do_not_fit_are_refused_clearly(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build(shape, np.random.default_rng(0))


@pytest.mark.parametrize(
    "layer, shape, bad",
    [
        (Conv2D(2, 3), (1, 5, 5), (2, 1, 6, 6)),
        (MaxPool2D(2), (1, 4, 4), (2, 1, 6, 6)),
        (AvgPool2D(2), (1, 4, 4), (2, 2, 4, 4)),
        (BatchNorm(), (3,), (2, 4)),
    ],
    ids=repr,
)
def test_inputs_of_another_shape_than_built_for_are_refused(layer, shape, bad):
    layer.build(shape, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"built for \(N, \("):
        layer.forward(np.zeros(bad, np.float32))


def test_batchnorm_refuses_to_train_on_one_value_per_feature():
    bn = BatchNorm()
    bn.build((3,), None)
    with pytest.raises(ValueError, match="more than one value per feature"):
        bn.forward(np.ones((1, 3), np.float32), training=True)
    assert bn.forward(np.ones((1, 3), np.float32)).shape == (1, 3)  # inference is fine


def test_a_small_convolutional_network_learns():
    """Tell images with a bright top half from images with a bright bottom half."""
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 128)
    x = rng.random((128, 1, 8, 8), dtype=np.float32) * 0.5
    x[y == 0, :, :4] += 0.5
    x[y == 1, :, 4:] += 0.5
    net = Sequential(
        [Conv2D(4, 3, padding=1), BatchNorm(), ReLU(), MaxPool2D(2), Flatten(), Dense(2)],
        input_shape=(1, 8, 8),
        rng=0,
    )
    net.fit(x, y, optimizer=Adam(0.01), epochs=3, batch_size=16, rng=0)
    assert net.evaluate(x, y)["accuracy"] >= 0.95
    assert net.dtype == np.float32
