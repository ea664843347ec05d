"""Forward outputs, gradients and optimiser steps of a random MLP equal PyTorch's (where it is installed)."""

import numpy as np
import pytest

from digitnet.nn import ACTIVATIONS, SGD, Adam, Dense, Sequential

torch = pytest.importorskip("torch")

TORCH_ACT = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def twin_networks(activation, cost, seed=0):
    sizes = [784, 32, 16, 10]
    layers = []
    for units in sizes[1:]:
        layers += [Dense(units), ACTIVATIONS[activation]()]
    if cost == "cross-entropy":
        layers.pop()  # logits out; softmax lives in the cost
    ours = Sequential(layers, cost=cost, rng=seed)
    modules = []
    for layer in ours.layers:
        if isinstance(layer, Dense):
            lin = torch.nn.Linear(*layer.params["W"].shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))  # torch stores (U, D)
                lin.bias.copy_(torch.from_numpy(layer.params["b"]))
            modules.append(lin)
        else:
            modules.append(TORCH_ACT[activation]())
    return ours, torch.nn.Sequential(*modules)


def torch_loss(out, labels, cost):
    if cost == "cross-entropy":
        return torch.nn.functional.cross_entropy(out, labels)
    target = torch.nn.functional.one_hot(labels, 10).to(out.dtype)
    return 0.5 * ((out - target) ** 2).sum() / len(labels)


def batch(seed=1, n=32):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("activation", sorted(TORCH_ACT))
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_forward_loss_and_gradients_match_pytorch(activation, cost):
    ours, theirs = twin_networks(activation, cost)
    x, y = batch()
    out = ours.forward(x, training=True)
    loss, grad = ours.cost.loss_and_gradient(out, y)
    ours.backward(grad)

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    out_t = theirs(xt)
    loss_t = torch_loss(out_t, yt, cost)
    loss_t.backward()

    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-5)
    assert loss == pytest.approx(loss_t.item(), abs=1e-5)
    dense = [layer for layer in ours.layers if isinstance(layer, Dense)]
    linears = [m for m in theirs if isinstance(m, torch.nn.Linear)]
    for layer, lin in zip(dense, linears, strict=True):
        np.testing.assert_allclose(layer.grads["W"], lin.weight.grad.numpy().T, atol=1e-5)
        np.testing.assert_allclose(layer.grads["b"], lin.bias.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "ours_opt, make_theirs",
    [
        (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda: SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        (
            lambda: SGD(0.1, 0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        ),
        (lambda: Adam(1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
    ],
)
def test_training_steps_match_pytorch(ours_opt, make_theirs):
    ours, theirs = twin_networks("relu", "cross-entropy")
    params, grads = map(list, zip(*ours.parameters.arrays.values()))
    opt, opt_t = ours_opt(), make_theirs(theirs.parameters())
    for step in range(5):
        x, y = batch(seed=10 + step)
        _, grad = ours.cost.loss_and_gradient(ours.forward(x), y)
        ours.backward(grad)
        opt.step(params, grads)
        opt_t.zero_grad()
        torch_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y), "cross-entropy").backward()
        opt_t.step()
    linears = [m for m in theirs if isinstance(m, torch.nn.Linear)]
    dense = [layer for layer in ours.layers if isinstance(layer, Dense)]
    for layer, lin in zip(dense, linears, strict=True):
        np.testing.assert_allclose(layer.params["W"], lin.weight.detach().numpy().T, atol=1e-5)
        np.testing.assert_allclose(layer.params["b"], lin.bias.detach().numpy(), atol=1e-5)


def test_class_weighted_cross_entropy_matches_pytorch():
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((16, 10)).astype(np.float32), rng.integers(0, 10, 16)
    class_weights = rng.uniform(0.2, 4.0, 10).astype(np.float32)
    from digitnet.nn import CrossEntropy

    loss, grad = CrossEntropy().loss_and_gradient(logits.copy(), labels, class_weights[labels])
    z = torch.from_numpy(logits).requires_grad_()
    loss_t = torch.nn.functional.cross_entropy(
        z, torch.from_numpy(labels), weight=torch.from_numpy(class_weights)
    )
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-6)
    np.testing.assert_allclose(grad, z.grad.numpy(), atol=1e-6)
