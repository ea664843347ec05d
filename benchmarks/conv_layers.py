"""Training-step speed of a LeNet-5-style network, digitnet against PyTorch on CPU, and where the time goes.

The network: Conv2D(6, 5x5) - ReLU - MaxPool(2) - Conv2D(16, 5x5) - ReLU - MaxPool(2) - Flatten -
Dense(120) - ReLU - Dense(84) - ReLU - Dense(10), on 28x28 digits, cross-entropy, Adam. One step is what
``fit`` does per batch: forward, cost, backward (no input gradient for the first layer), Adam on the flat
parameters. Random inputs stand in for MNIST: the arithmetic does not depend on the pixel values.

The two frameworks alternate, ``--repeats`` times, so a drift in the machine's load hits both alike; the
table gives the median samples per second. Then digitnet's forward and backward time per layer.
PyTorch is optional (an extra for comparisons, never a dependency)::

    python benchmarks/conv_layers.py --batch 64 --steps 100 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from digitnet.nn import Adam, Dense, ReLU, Sequential
from digitnet.nn.conv import Conv2D
from digitnet.nn.pooling import MaxPool2D
from digitnet.nn.reshape import Flatten


def lenet5() -> Sequential:
    layers = [
        Conv2D(6, 5),
        ReLU(),
        MaxPool2D(2),
        Conv2D(16, 5),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(120),
        ReLU(),
        Dense(84),
        ReLU(),
        Dense(10),
    ]
    return Sequential(layers, input_shape=(1, 28, 28), rng=0)


def digitnet_steps(x, y, steps: int) -> float:
    """Seconds for ``steps`` training steps of a fresh model, after two warm-up steps."""
    model = lenet5()
    opt = Adam(1e-3)
    params, grads = model.parameters.values, model.parameters.grads  # (P,), (P,)

    def step():
        out = model.forward(x, training=True)  # (N, 10)
        _, grad = model.cost.loss_and_gradient(out, y)
        model.backward(grad, input_grad=False)
        opt.step([params], [grads])

    step(), step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def torch_steps(torch, x, y, steps: int) -> float:
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        loss = nn.functional.cross_entropy(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(), step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def per_layer(x, y, steps: int) -> list[tuple[str, float, float]]:
    """(layer, forward ms, backward ms) per batch, each the median over ``steps`` steps."""
    model = lenet5()
    times = [([], []) for _ in model.layers]
    for _ in range(steps):
        h = x
        for layer, (fwd, _) in zip(model.layers, times):
            start = time.perf_counter()
            h = layer.forward(h, training=True)
            fwd.append(time.perf_counter() - start)
        _, g = model.cost.loss_and_gradient(h, y)
        for i in range(len(model.layers) - 1, -1, -1):
            start = time.perf_counter()
            g = model.layers[i].backward(g, need_input_grad=False) if i == 0 else model.layers[i].backward(g)
            times[i][1].append(time.perf_counter() - start)
    return [
        (layer.describe(), 1e3 * statistics.median(f), 1e3 * statistics.median(b))
        for layer, (f, b) in zip(model.layers, times)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)  # (N, 1, 28, 28)
    y = rng.integers(0, 10, args.batch)  # (N,)
    try:
        import torch
    except ImportError:
        torch = None
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(args.steps * args.batch / digitnet_steps(x, y, args.steps))
        if torch is not None:
            theirs.append(args.steps * args.batch / torch_steps(torch, x, y, args.steps))
    print(f"LeNet-5 training steps, batch {args.batch}, median of {args.repeats}:")
    print(f"  digitnet  {statistics.median(ours):8,.0f} samples/s")
    if theirs:
        t = statistics.median(theirs)
        print(
            f"  PyTorch   {t:8,.0f} samples/s   (digitnet/PyTorch {statistics.median(ours) / t:.2f}x, "
            f"{torch.get_num_threads()} threads)"
        )
    print("\ndigitnet per layer (ms per batch, median):")
    for name, f, b in per_layer(x, y, args.steps):
        print(f"  {name:<50} forward {f:6.3f}   backward {b:6.3f}")


if __name__ == "__main__":
    main()
