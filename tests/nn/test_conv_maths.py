"""Conv2D, MaxPool2D, AvgPool2D, BatchNorm, Flatten and Rescaling against the maths: float64 central
differences for each layer and a whole convolutional network, and PyTorch parity of values, gradients and
SGD steps."""

import numpy as np
import pytest

from digitnet.nn import SGD, Dense, ReLU
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.conv import Conv2D
from digitnet.nn.gradcheck import check_gradients, numerical_gradient, relative_error
from digitnet.nn.model import Sequential
from digitnet.nn.pooling import AvgPool2D, MaxPool2D
from digitnet.nn.rescaling import Rescaling
from digitnet.nn.reshape import Flatten

TOLERANCE = 1e-6


def built(layer, input_shape, *, seed=0, dtype=np.float64):
    """``layer`` built for ``input_shape`` with parameters and buffers cast to ``dtype``."""
    layer.build(input_shape, np.random.default_rng(seed))
    layer.params = {k: v.astype(dtype) for k, v in layer.params.items()}
    layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    if hasattr(layer, "buffers"):
        layer.buffers = {k: v.astype(dtype) for k, v in layer.buffers.items()}
    return layer


def gradient_errors(layer, x, training, seed=1):
    """Relative error of backward against central differences of L = Σ out ⊙ R, R fixed and random."""
    r = np.random.default_rng(seed).standard_normal(layer.forward(x, training=training).shape)

    def loss():
        return float(np.sum(layer.forward(x, training=training) * r))

    layer.forward(x, training=training)
    dx = layer.backward(r.copy())
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    errors = {k: relative_error(analytic[k], numerical_gradient(loss, p)) for k, p in layer.params.items()}
    errors["input"] = relative_error(dx, numerical_gradient(loss, x))
    return errors


LAYER_CASES = [
    # (layer factory, per-example input shape)
    (lambda: Conv2D(3, 3), (2, 6, 7)),
    (lambda: Conv2D(3, 3, stride=2, padding=1), (2, 7, 6)),
    (lambda: Conv2D(2, 5, padding="same", init="he"), (1, 6, 6)),
    (lambda: Conv2D(2, 2, stride=3, padding=2), (2, 7, 8)),
    (lambda: Conv2D(4, 1), (3, 4, 4)),
    (lambda: MaxPool2D(2), (2, 6, 6)),
    (lambda: MaxPool2D(2), (2, 5, 7)),  # sizes that do not divide: the last row and column are dropped
    (lambda: MaxPool2D(3, stride=2), (2, 7, 7)),  # overlapping windows
    (lambda: AvgPool2D(2), (2, 6, 6)),
    (lambda: AvgPool2D(3, stride=1), (2, 5, 6)),
    (lambda: BatchNorm(), (5,)),
    (lambda: BatchNorm(momentum=0.3), (3, 4, 5)),
    (lambda: Flatten(), (2, 3, 4)),
    (lambda: Rescaling(1 / 0.3081, -0.1307 / 0.3081), (1, 5, 5)),
    (lambda: Rescaling(-2.0), (6,)),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("make, shape", LAYER_CASES, ids=lambda v: repr(v()) if callable(v) else str(v))
def test_layer_gradients_match_finite_differences(make, shape, training):
    rng = np.random.default_rng(2)
    layer = built(make(), shape)
    if isinstance(layer, BatchNorm):  # non-trivial parameters and running statistics
        for k in layer.params:
            layer.params[k][...] = rng.standard_normal(layer.params[k].shape)
        layer.buffers["running_mean"][...] = rng.standard_normal(shape[0])
        layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, shape[0])
    x = rng.standard_normal((3, *shape))
    errors = gradient_errors(layer, x, training)
    assert set(errors) == {*layer.params, "input"}
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("training", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_whole_convolutional_network_gradients(training, l2):
    net = Sequential(
        [Conv2D(4, 3, padding=1), ReLU(), MaxPool2D(2), BatchNorm(), Flatten(), Dense(10)],
        input_shape=(1, 8, 8),
        rng=0,
    )
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((3, 1, 8, 8)), rng.integers(0, 10, 3)
    errors = check_gradients(net, x, y, l2=l2, training=training)
    assert set(errors) == {*net.named_params(), "input"}
    assert max(errors.values()) <= TOLERANCE, errors


# ----- PyTorch parity ---------------------------------------------------------------------------------


def assert_close(ours, theirs, dtype):
    """Agreement to 1e-5 of the values' scale in float32 (rounding of sums), 1e-12 in float64."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(theirs).max()))
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "filters, k, stride, padding, shape",
    [
        (6, 5, 1, 0, (1, 12, 12)),
        (4, 3, 1, 1, (3, 7, 9)),
        (5, 3, 2, 1, (2, 9, 8)),
        (3, 4, 3, 2, (2, 10, 11)),
        (2, 1, 1, 0, (4, 5, 5)),
    ],
)
def test_conv2d_matches_pytorch(filters, k, stride, padding, shape, dtype):
    torch = pytest.importorskip("torch")
    conv = built(Conv2D(filters, k, stride=stride, padding=padding), shape, dtype=dtype)
    conv.params["b"][...] = np.random.default_rng(7).standard_normal(filters)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, *shape)).astype(dtype)
    out = conv.forward(x, training=True)
    g = rng.standard_normal(out.shape).astype(dtype)
    dx = conv.backward(g)

    ref = torch.nn.Conv2d(shape[0], filters, k, stride=stride, padding=padding).to(torch.from_numpy(x).dtype)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(conv.params["W"]))
        ref.bias.copy_(torch.from_numpy(conv.params["b"]))
    xt = torch.from_numpy(x).requires_grad_()
    out_t = ref(xt)
    out_t.backward(torch.from_numpy(g))
    assert_close(out, out_t, dtype)
    assert_close(dx, xt.grad, dtype)
    assert_close(conv.grads["W"], ref.weight.grad, dtype)
    assert_close(conv.grads["b"], ref.bias.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "k, stride, shape", [(2, None, (3, 8, 8)), (2, None, (2, 7, 5)), (3, 2, (2, 9, 8)), (3, 1, (1, 5, 6))]
)
def test_pooling_matches_pytorch(kind, k, stride, shape, dtype):
    torch = pytest.importorskip("torch")
    ours = (MaxPool2D if kind == "max" else AvgPool2D)(k, stride=stride)
    ours.build(shape, None)
    rng = np.random.default_rng(9)
    x = np.maximum(rng.standard_normal((3, *shape)), 0).astype(dtype)  # ReLU'd: many tied zeros
    out = ours.forward(x)
    g = rng.standard_normal(out.shape).astype(dtype)
    dx = ours.backward(g)
    ref = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(k, stride=stride)
    xt = torch.from_numpy(x).requires_grad_()
    out_t = ref(xt)
    out_t.backward(torch.from_numpy(g))
    assert_close(out, out_t, dtype)
    assert_close(dx, xt.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6,), (3, 4, 5)], ids=["1d", "2d"])
def test_batchnorm_matches_pytorch_in_train_and_eval_mode(shape, dtype):
    torch = pytest.importorskip("torch")
    bn = built(BatchNorm(momentum=0.2, eps=1e-3), shape, dtype=dtype)
    rng = np.random.default_rng(10)
    bn.params["gamma"][...] = rng.uniform(0.5, 2.0, shape[0])
    bn.params["beta"][...] = rng.standard_normal(shape[0])
    ref = (torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d)(
        shape[0], eps=1e-3, momentum=0.2
    )
    ref = ref.to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(bn.params["gamma"]))
        ref.bias.copy_(torch.from_numpy(bn.params["beta"]))
    for training in [True, True, True, False]:
        x = (rng.standard_normal((8, *shape)) * 3 + 1).astype(dtype)
        out = bn.forward(x, training=training)
        g = rng.standard_normal(out.shape).astype(dtype)
        dx = bn.backward(g)
        ref.train(training)
        ref.zero_grad()
        xt = torch.from_numpy(x).requires_grad_()
        out_t = ref(xt)
        out_t.backward(torch.from_numpy(g))
        assert_close(out, out_t, dtype)
        assert_close(dx, xt.grad, dtype)
        assert_close(bn.grads["gamma"], ref.weight.grad, dtype)
        assert_close(bn.grads["beta"], ref.bias.grad, dtype)
        assert_close(bn.buffers["running_mean"], ref.running_mean, dtype)
        assert_close(bn.buffers["running_var"], ref.running_var, dtype)


def test_lenet_training_steps_match_pytorch():
    """Five SGD steps of conv-pool-conv-pool-dense on the same weights and batches give the same weights."""
    torch = pytest.importorskip("torch")
    ours = Sequential(
        [
            Conv2D(3, 5),
            ReLU(),
            MaxPool2D(2),
            Conv2D(4, 3),
            BatchNorm(),
            ReLU(),
            AvgPool2D(2),
            Flatten(),
            Dense(10),
        ],
        input_shape=(1, 16, 16),
        rng=0,
    )
    modules = []
    for layer in ours.layers:
        if isinstance(layer, Conv2D):
            m = torch.nn.Conv2d(layer.input_shape[0], layer.filters, layer.kernel_size)
            m.weight.data.copy_(torch.from_numpy(layer.params["W"]))
            m.bias.data.copy_(torch.from_numpy(layer.params["b"]))
        elif isinstance(layer, Dense):
            m = torch.nn.Linear(*layer.params["W"].shape)
            m.weight.data.copy_(torch.from_numpy(layer.params["W"].T.copy()))
            m.bias.data.copy_(torch.from_numpy(layer.params["b"]))
        else:
            m = {
                ReLU: torch.nn.ReLU,
                MaxPool2D: lambda: torch.nn.MaxPool2d(2),
                BatchNorm: lambda: torch.nn.BatchNorm2d(4),
                AvgPool2D: lambda: torch.nn.AvgPool2d(2),
                Flatten: torch.nn.Flatten,
            }[type(layer)]()
        modules.append(m)
    theirs = torch.nn.Sequential(*modules)
    params, grads = map(list, zip(*ours.parameters.arrays.values()))
    opt, opt_t = SGD(0.1, momentum=0.9), torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(11)
    for _ in range(5):
        x, y = rng.random((16, 1, 16, 16), dtype=np.float32), rng.integers(0, 10, 16)
        _, grad = ours.cost.loss_and_gradient(ours.forward(x, training=True), y)
        ours.backward(grad, input_grad=False)
        opt.step(params, grads)
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_t.step()
    torch_params = [p.detach().numpy() for p in theirs.parameters()]
    ours_params = [
        p.T if isinstance(layer, Dense) and k == "W" else p
        for layer in ours.layers
        for k, p in layer.params.items()
    ]
    for a, b in zip(ours_params, torch_params, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(
        ours.layers[4].buffers["running_var"], theirs[4].running_var.numpy(), atol=1e-5
    )
