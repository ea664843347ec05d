"""Where one worker's share of a training step goes: each layer's forward and backward time, on one core.

The convolutional presets train with 2 workers, each on half of every batch with one BLAS thread
(``digitnet.nn.parallel``). So a preset reaches PyTorch's samples per second only if one worker's
half-batch step fits in the time PyTorch takes for the whole batch on both cores. This script times that
half-batch step layer by layer (forward in training mode, then backward, no input gradient for the first
layer, as ``fit`` does), and separately the three BLAS products of the network's largest convolution
(output, dL/dW, dL/dX) at the throughput this core reaches, to split the step into products and the NumPy
work around them. Random inputs stand in for MNIST: the arithmetic does not depend on the pixel values.
Figures are medians over ``--repeats`` steps after two warm-up steps::

    python benchmarks/layer_times.py --preset cnn --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from speed import cpu_model  # this folder's speed benchmark: every table names its CPU
from threadpoolctl import threadpool_limits

from digitnet import kernels
from digitnet.nn import Sequential
from digitnet.nn.conv import Conv2D
from digitnet.training.presets import PRESETS, get_preset
from digitnet.training.runs import build_model

WARMUP = 2  # steps run before any timing (first-touch allocation, BLAS buffers)


def layer_times(net: Sequential, batch: int, repeats: int) -> list[tuple[str, float, float]]:
    """(layer name, median forward seconds, median backward seconds) for each layer, in order."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, *net.input_shape), dtype=np.float32)  # (N, C, H, W)
    forward = [[] for _ in net.layers]
    backward = [[] for _ in net.layers]
    for step in range(WARMUP + repeats):
        out = x
        for i, layer in enumerate(net.layers):
            start = time.perf_counter()
            out = layer.forward(out, training=True, rng=rng)
            if step >= WARMUP:
                forward[i].append(time.perf_counter() - start)
        grad = np.full_like(out, 1.0 / batch)  # (N, classes): any dL/d(output) costs the same
        for i in range(len(net.layers) - 1, -1, -1):
            start = time.perf_counter()
            layer = net.layers[i]
            grad = layer.backward(grad) if i else layer.backward(grad, need_input_grad=False)
            if step >= WARMUP:
                backward[i].append(time.perf_counter() - start)
    return [
        (type(layer).__name__, statistics.median(f), statistics.median(b))
        for layer, f, b in zip(net.layers, forward, backward)
    ]


def largest_conv_products(net: Sequential, batch: int, repeats: int) -> tuple[str, float, float]:
    """(description, median seconds, GFLOP/s) of the largest convolution's three im2col products.

    With M = N·OH·OW output positions, K = C·KH·KW taps and F filters: Y = cols @ W is (M, K) @ (K, F),
    dL/dW = dY^T @ cols is (F, M) @ (M, K), dL/dcols = dY @ W^T is (M, F) @ (F, K); 2·M·K·F FLOPs each.
    """

    def flops(conv: Conv2D) -> int:
        (c, _, _), (f, oh, ow) = conv.input_shape, conv.output_shape  # (C, H, W) -> (F, OH, OW)
        return batch * oh * ow * c * conv.kernel_size**2 * f

    conv = max((layer for layer in net.layers if isinstance(layer, Conv2D)), key=flops)
    (c, h, w), (f, oh, ow) = conv.input_shape, conv.output_shape
    m, k = batch * oh * ow, c * conv.kernel_size**2
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((m, k), dtype=np.float32)
    weights = rng.standard_normal((k, f), dtype=np.float32)
    grad = rng.standard_normal((m, f), dtype=np.float32)
    times = []
    for step in range(WARMUP + repeats):
        start = time.perf_counter()
        cols @ weights
        grad.T @ cols
        grad @ weights.T
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    described = f"{c} -> {f} filters on {h}x{w}: (M, K, F) = ({m:,}, {k}, {f})"
    return described, seconds, 3 * 2 * m * k * f / seconds / 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cnn", choices=PRESETS, help="a convolutional preset")
    parser.add_argument("--batch", type=int, default=32, help="one worker's share of a batch of 64: 32")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps (median)")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        parser.error("--batch and --repeats must be at least 1")
    net = build_model(get_preset(args.preset))
    if not net.is_convolutional:
        convolutional = [name for name in PRESETS if get_preset(name).conv]
        parser.error(f"--preset {args.preset!r} has no convolution; choose one of {', '.join(convolutional)}")

    print(f"{cpu_model()}, one BLAS thread; preset {args.preset}, batch {args.batch}; {kernels.description()}")
    with threadpool_limits(1):
        rows = layer_times(net, args.batch, args.repeats)
        described, seconds, gflops = largest_conv_products(net, args.batch, args.repeats)
    for i, (name, f, b) in enumerate(rows):
        print(f"{i:3d} {name:10s} forward {f * 1e3:7.2f} ms   backward {b * 1e3:7.2f} ms")
    total = sum(f + b for _, f, b in rows)
    print(f"    all layers {total * 1e3:.1f} ms a step of {args.batch} ({args.batch / total:,.0f} samples/s)")
    print(f"    largest convolution, {described}")
    print(f"    its three products {seconds * 1e3:.1f} ms, {gflops:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
