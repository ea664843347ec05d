"""Training and inference speed: digitnet against PyTorch (and scikit-learn, and a per-example loop) on CPU.

For each network below, digitnet and PyTorch train one epoch of the 60,000 MNIST training images with the
same architecture, batch size, optimiser, data and initial weights (PyTorch's layers get copies of
digitnet's). Every measurement runs in a fresh process, so each reports its own peak memory (resident set
size, all of it: interpreter, libraries, data, model); the frameworks alternate, ``--repeats`` times, so
a drift in the machine's load hits both alike, and the table gives medians. Each process first trains on
2,000 images to warm up (thread pools, caches), then times a full epoch on a fresh model (digitnet's as
``fit`` records it: the epoch itself, after any worker processes have started). Peak memory includes
those workers'.

The same run measures this machine's float32 matrix-multiply peak (NumPy's BLAS on a 2048x2048 product)
and reports the share of it each training run reaches, counting an MLP epoch as 2 · weights · samples · 3
FLOPs (forward; backward for the inputs and for the weights) and a convolution's as 2·F·C·K²·OH·OW · 3
per sample.

Also: single-image forward latency of 784-100-10, and whole-test-set inference of 784-16-16-10 (the
predicted class of all 10,000 test images in one forward pass).

PyTorch and scikit-learn are optional extras for benchmarks only (``pip install -e '.[bench]'``), never
dependencies of digitnet::

    DIGITNET_DATA=../shared/data/mnist python benchmarks/speed.py --repeats 3 --json speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet import kernels
from digitnet.data import load_mnist
from digitnet.nn import Callback, Dense
from digitnet.training.config import TrainConfig
from digitnet.training.presets import get_preset
from digitnet.training.runs import build_model, make_optimizer

WARMUP = 2_000  # images trained on before the timed epoch, in every framework


@dataclass(frozen=True)
class Benchmark:
    name: str
    config: TrainConfig
    others: tuple[str, ...] = field(default=())  # further contenders beside digitnet and PyTorch


BENCHMARKS = [
    Benchmark(
        "784-16-16-10 sigmoid, quadratic, SGD",
        TrainConfig(
            hidden=(16, 16),
            activation="sigmoid",
            cost="quadratic",
            optimizer="sgd",
            lr=3.0,
            batch_size=10,
            l2=0.0,
        ),
        ("per-example loop",),
    ),
    Benchmark("784-16-16-10 ReLU, cross-entropy, Adam", TrainConfig(hidden=(16, 16), batch_size=64, l2=0.0)),
    Benchmark(
        "784-100-10 ReLU, cross-entropy, Adam",
        TrainConfig(hidden=(100,), batch_size=128, l2=0.0),
        ("scikit-learn",),
    ),
    Benchmark(
        "784-800-800-10 ReLU, dropout, Adam",
        TrainConfig(hidden=(800, 800), batch_size=128, dropout=0.5, l2=0.0),
    ),
    Benchmark(
        "784-800-800-10 ReLU, dropout, Nesterov",
        TrainConfig(
            hidden=(800, 800),
            batch_size=128,
            dropout=0.5,
            l2=0.0,
            optimizer="sgd",
            lr=0.05,
            momentum=0.9,
            nesterov=True,
        ),
    ),
    Benchmark("LeNet-5 style CNN, Adam", get_preset("lenet5").replace(l2=0.0), ("digitnet, 1 worker",)),
    Benchmark(
        "best CNN (BatchNorm, dropout), Adam",
        get_preset("cnn").replace(l2=0.0, augment=None),
        ("digitnet, 1 worker",),
    ),
    Benchmark(
        "fast CNN (3x3, BatchNorm), Adam",
        get_preset("fast-cnn").replace(l2=0.0, augment=None),
        ("digitnet, 1 worker",),
    ),
]
"""The issue's four MLP configurations; the ``large`` preset's optimiser (SGD with Nesterov momentum),
whose update reads and writes less memory per step than Adam's; and the three convolutional presets
(without augmentation, which prepares data rather than trains). Those train with 2 workers, as their
presets do (``digitnet.nn.parallel``), and also with one, for comparison."""

CNN_IMAGES = 12_800
"""Convolutional networks train on the first 12,800 images (200 batches of 64) instead of all 60,000,
to keep the run short; samples per second are measured the same way and s/epoch is scaled to 60,000."""


# ----- one framework, one epoch (each in its own process) ---------------------------------------------


class WorkerMemory(Callback):
    """The peak memory of digitnet's worker processes (children of this one), summed: read from Linux's
    /proc at the end of each epoch, while they still run. Their rusage would not do: a child's
    ``ru_maxrss`` also counts the pages it shared with this process between fork and exec."""

    peak_mb = 0.0

    def on_epoch_end(self, epoch, logs):
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[1] == str(os.getpid()):
                    total += _vmhwm_mb(stat.with_name("status"))
            except (OSError, IndexError, ValueError):
                continue  # a process that ended while we looked
        WorkerMemory.peak_mb = max(WorkerMemory.peak_mb, total)


def _vmhwm_mb(status: Path) -> float:
    """VmHWM, a process's peak resident set size, from its /proc status file, in MB."""
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB -> MB
    return 0.0


def digitnet_epoch(config: TrainConfig, x: np.ndarray, y: np.ndarray) -> float:
    def run(xs, ys):
        model = build_model(config)
        history = model.fit(
            xs,
            ys,
            optimizer=make_optimizer(config),
            epochs=1,
            batch_size=config.batch_size,
            rng=0,
            workers=config.workers,
            callbacks=[WorkerMemory()],
        )
        # The epoch's own time, as fit measures it: with workers, starting their processes (about 0.2 s,
        # once per training, not per epoch) comes before it, as building the network does for PyTorch.
        return history.epochs[-1]["seconds"]

    run(x[:WARMUP], y[:WARMUP])
    return run(x, y)


def torch_network(torch, config: TrainConfig):
    """PyTorch's ``nn.Sequential`` for ``config``, with digitnet's initial weights copied in."""
    nn, modules = torch.nn, []
    for layer in build_model(config).layers:
        kind = type(layer).__name__
        if kind in ("Dense", "Conv2D"):
            w = layer.params["W"]
            if kind == "Dense":
                module = nn.Linear(*w.shape)
                w = w.T  # (D, U) -> PyTorch's (U, D)
            else:
                module = nn.Conv2d(w.shape[1], w.shape[0], layer.kernel_size, layer.stride, layer.pad)
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                module.bias.copy_(torch.from_numpy(layer.params["b"]))
            modules.append(module)
        elif kind == "BatchNorm":
            features = len(layer.params["gamma"])
            norm = nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d
            modules.append(norm(features, eps=layer.eps, momentum=layer.momentum))
        elif kind == "Dropout":
            modules.append(nn.Dropout(layer.rate))
        elif kind == "MaxPool2D":
            modules.append(nn.MaxPool2d(layer.pool_size, layer.stride))
        else:
            modules.append(
                {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Flatten": nn.Flatten}[kind]()
            )
    return nn.Sequential(*modules)


def training_flops(config: TrainConfig) -> float:
    """Floating-point operations of one training step per example: 3 x the forward products'
    (forward; backward for the inputs and for the weights). 2·D·U for a dense layer, 2·F·C·K²·OH·OW for a
    convolution: for an MLP, the issue's 2 x parameters x 3 up to the biases."""
    forward = 0
    for layer in build_model(config).layers:
        w = layer.params.get("W")
        if w is not None:
            spatial = int(np.prod(layer.output_shape[1:])) if w.ndim == 4 else 1  # OH·OW
            forward += 2 * w.size * spatial
    return 3 * forward


def torch_epoch(config: TrainConfig, x: np.ndarray, y: np.ndarray, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    input_shape = build_model(config).input_shape  # (784,), or (1, 28, 28) for a CNN

    def run(xs, ys):
        net = torch_network(torch, config)
        if config.optimizer == "sgd":
            opt = torch.optim.SGD(
                net.parameters(), lr=config.lr, momentum=config.momentum, nesterov=config.nesterov
            )
        else:
            opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        xt, yt = (
            torch.from_numpy(xs.reshape(-1, *input_shape)),
            torch.from_numpy(ys.astype(np.int64)),
        )
        onehot = torch.nn.functional.one_hot(yt, 10).float()
        n, b = len(xs), config.batch_size
        start = time.perf_counter()
        order = torch.randperm(n)
        for i in range(0, n, b):
            idx = order[i : i + b]
            out = net(xt[idx])
            if config.cost == "quadratic":
                loss = 0.5 * ((out - onehot[idx]) ** 2).sum() / len(idx)
            else:
                loss = torch.nn.functional.cross_entropy(out, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    run(x[:WARMUP], y[:WARMUP])
    return run(x, y)


def sklearn_epoch(config: TrainConfig, x: np.ndarray, y: np.ndarray) -> float:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch is deliberately not converged

    def run(xs, ys):
        clf = MLPClassifier(
            hidden_layer_sizes=config.hidden,
            activation=config.activation,
            solver="adam",
            batch_size=config.batch_size,
            learning_rate_init=config.lr,
            alpha=config.l2,
            max_iter=1,
            shuffle=True,
            random_state=0,
        )
        start = time.perf_counter()
        clf.fit(xs, ys)  # float32 in, float32 throughout (scikit-learn keeps the input's dtype)
        return time.perf_counter() - start

    run(x[:WARMUP], y[:WARMUP])
    return run(x, y)


def loop_epoch(config: TrainConfig, x: np.ndarray, y: np.ndarray) -> float:
    """Backpropagation one example at a time, in float64 column vectors: the algorithm of Nielsen's
    network.py (written for this benchmark), the usual from-scratch baseline."""
    model = build_model(config)
    weights = [layer.params["W"].T.astype(np.float64) for layer in model.layers if isinstance(layer, Dense)]
    biases = [
        layer.params["b"][:, None].astype(np.float64) for layer in model.layers if isinstance(layer, Dense)
    ]
    eye = np.eye(10)

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def run(xs, ys):
        start = time.perf_counter()
        order = np.random.default_rng(0).permutation(len(xs))
        for i in range(0, len(xs), config.batch_size):
            nabla_w = [np.zeros_like(w) for w in weights]
            nabla_b = [np.zeros_like(b) for b in biases]
            for j in order[i : i + config.batch_size]:
                activation, activations, zs = xs[j][:, None].astype(np.float64), [], []
                activations.append(activation)
                for w, b in zip(weights, biases):
                    zs.append(w @ activation + b)
                    activation = sigmoid(zs[-1])
                    activations.append(activation)
                delta = (activation - eye[ys[j]][:, None]) * activation * (1 - activation)
                for k in range(len(weights) - 1, -1, -1):
                    nabla_w[k] += delta @ activations[k].T
                    nabla_b[k] += delta
                    if k:
                        a = activations[k]
                        delta = (weights[k].T @ delta) * a * (1 - a)
            step = config.lr / config.batch_size
            for w, b, nw, nb in zip(weights, biases, nabla_w, nabla_b):
                w -= step * nw
                b -= step * nb
        return time.perf_counter() - start

    with np.errstate(over="ignore"):
        run(x[:WARMUP], y[:WARMUP])
        return run(x, y)


def worker(framework: str, index: int, threads: int) -> None:
    """Time one epoch in this process and print {"seconds": ..., "peak_mb": ...} as JSON."""
    data = load_mnist(validation_size=0, progress=False)
    config = BENCHMARKS[index].config
    n = CNN_IMAGES if config.conv else len(data.train)
    x, y = data.train.x[:n], data.train.y[:n]
    seconds = {
        "digitnet": lambda: digitnet_epoch(config, x, y),
        "digitnet, 1 worker": lambda: digitnet_epoch(config.replace(workers=1), x, y),
        "PyTorch": lambda: torch_epoch(config, x, y, threads),
        "scikit-learn": lambda: sklearn_epoch(config, x, y),
        "per-example loop": lambda: loop_epoch(config, x, y),
    }[framework]()
    print(json.dumps({"seconds": seconds * 60_000 / n, "peak_mb": peak_memory_mb()}))  # per 60,000 images


def peak_memory_mb() -> float:
    """This process's peak resident set size, plus its digitnet workers' (:class:`WorkerMemory`). Linux's
    VmHWM starts afresh at exec; ``ru_maxrss`` would also count the parent's peak (the orchestrating
    process, which has MNIST and PyTorch loaded)."""
    try:
        return _vmhwm_mb(Path("/proc/self/status")) + WorkerMemory.peak_mb
    except OSError:
        unit = 1024 if sys.platform != "darwin" else 2**20  # ru_maxrss: kB on Linux, bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit


def measure(framework: str, index: int, threads: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", framework, str(index), "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"the {framework} run of {BENCHMARKS[index].name} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----- the machine and inference ----------------------------------------------------------------------


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of NumPy's float32 (n, n) @ (n, n): the most this machine's BLAS does."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_time(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def cpu_model() -> str:
    """The CPU's model name as Linux reports it ("AMD EPYC ...", "Intel(R) Xeon(R) ..."): timings are
    only comparable on one CPU, so every table names it. Falls back to the architecture elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.partition(":")[2].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def inference(threads: int, torch_available: bool) -> dict:
    data = load_mnist(validation_size=0, progress=False)
    mlp100, small = build_model(TrainConfig(hidden=(100,))), build_model(BENCHMARKS[0].config)
    one, test = data.test.x[:1], data.test.x
    result = {
        "single_image_forward_us": {
            "digitnet": statistics.median(_time(lambda: mlp100.forward(one)) for _ in range(3000)) * 1e6,
        },
        "test_set_images_per_s": {
            "digitnet": len(test) / min(_time(lambda: small.forward(test).argmax(axis=1)) for _ in range(20)),
        },
    }
    if torch_available:
        import torch

        torch.set_num_threads(threads)
        net100, net16 = (
            torch_network(torch, TrainConfig(hidden=(100,))),
            torch_network(torch, BENCHMARKS[0].config),
        )
        one_t, test_t = torch.from_numpy(one), torch.from_numpy(test)
        with torch.inference_mode():
            net100(one_t)
            result["single_image_forward_us"]["PyTorch"] = (
                statistics.median(_time(lambda: net100(one_t)) for _ in range(3000)) * 1e6
            )
            result["test_set_images_per_s"]["PyTorch"] = len(test) / min(
                _time(lambda: net16(test_t).argmax(dim=1)) for _ in range(20)
            )
    return result


# ----- the run ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs per framework and network (median)")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="PyTorch's threads; NumPy's BLAS uses every core by default",
    )
    parser.add_argument("--only", type=int, nargs="*", help="indices of the networks to run (0-based)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.threads)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is needed for the comparison: pip install -e '.[bench]'") from None
    load_mnist(validation_size=0, progress=False)  # fail here, once, if the data is missing

    peak = matmul_peak()
    print(
        f"{cpu_model()}, {os.cpu_count()} cores; NumPy {np.__version__}, "
        f"PyTorch {torch.__version__} ({args.threads} threads); float32 matmul peak {peak:.0f} GFLOP/s\n"
        f"digitnet's passes over memory: {kernels.description()}\n"
    )
    header = (
        f"{'network':40} {'batch':>5} {'framework':>17} {'samples/s':>10} {'s/epoch':>8} {'peak MB':>8} "
        f"{'vs PyTorch':>10} {'of peak':>8}"
    )
    print(header)
    rows = []
    indices = args.only if args.only is not None else range(len(BENCHMARKS))
    for i in indices:
        bench = BENCHMARKS[i]
        frameworks = ["digitnet", "PyTorch", *bench.others]
        runs = {f: [] for f in frameworks}
        for _ in range(args.repeats):  # alternate, so drifting machine load hits every framework alike
            for f in frameworks:
                runs[f].append(measure(f, i, args.threads))
        flops = training_flops(bench.config)  # per example
        torch_seconds = statistics.median(r["seconds"] for r in runs["PyTorch"])
        for f in frameworks:
            seconds = statistics.median(r["seconds"] for r in runs[f])
            row = {
                "network": bench.name,
                "batch": bench.config.batch_size,
                "framework": f,
                "samples_per_s": 60_000 / seconds,
                "s_per_epoch": seconds,
                "peak_mb": max(r["peak_mb"] for r in runs[f]),
                "vs_pytorch": torch_seconds / seconds,
                "share_of_matmul_peak": flops * 60_000 / seconds / 1e9 / peak,
                "epochs": runs[f],
            }
            rows.append(row)
            print(
                f"{bench.name if f == 'digitnet' else '':40} "
                f"{bench.config.batch_size if f == 'digitnet' else '':>5} "
                f"{f:>17} {row['samples_per_s']:>10,.0f} {seconds:>8.2f} {row['peak_mb']:>8.0f} "
                f"{row['vs_pytorch']:>9.2f}x {100 * row['share_of_matmul_peak']:>7.0f}%",
                flush=True,
            )

    inf = inference(args.threads, torch_available=True)
    single, whole = inf["single_image_forward_us"], inf["test_set_images_per_s"]
    print(
        f"\nsingle-image forward, 784-100-10: digitnet {single['digitnet']:.1f} us, "
        f"PyTorch {single['PyTorch']:.1f} us"
    )
    print(
        f"whole test set, 784-16-16-10: digitnet {whole['digitnet']:,.0f} images/s, "
        f"PyTorch {whole['PyTorch']:,.0f} images/s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": {
                        "processor": cpu_model(),
                        "cores": os.cpu_count(),
                        "numpy": np.__version__,
                        "torch": torch.__version__,
                        "threads": args.threads,
                    },
                    "matmul_peak_gflops": peak,
                    "training": rows,
                    **inf,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
