"""Time to accuracy: how long digitnet and PyTorch take to reach 99.0% and 99.5% test accuracy, same recipe.

Samples per second say how fast a step is; what a user waits for is a network that reads digits well.
This trains one preset (``fast-cnn`` unless told otherwise) on all 60,000 training images, in digitnet as
``digitnet train --preset NAME`` does, and the same network and recipe in PyTorch:

- the same initial weights (PyTorch's layers get copies of digitnet's, as in ``speed.py``);
- the same data in the same order: each epoch's permutation and every batch's random distortion are
  drawn from the very generators, seeded the same way and called in the same sequence, as
  :func:`digitnet.nn.training.fit` draws them, and the distortion is digitnet's ``Augment`` in both;
- the same optimiser (Adam with the same betas and eps), learning-rate schedule evaluated before every
  batch, L2 on the weights only (PyTorch's ``weight_decay`` on those parameters, which adds λ·W to the
  gradient before Adam, as digitnet does), batch-norm momentum and eps.

Recipes with dropout are refused: its masks draw from the stream that also shuffles, and PyTorch's
cannot. One thing differs even so: with ``workers = 2``, digitnet splits each batch between two
processes, each normalising its half with that half's batch-norm mean and variance (see
:mod:`digitnet.nn.parallel`), where PyTorch's two threads normalise the whole batch. So the two runs
follow the same recipe, not bit for bit the same path.

After every epoch each framework evaluates the 10,000 test images with its clock stopped; the table gives
the training time (augmentation included) until the first epoch at or above each target, and every epoch's
test accuracy. Each framework runs in its own process, one after the other::

    DIGITNET_DATA=../shared/data/mnist python benchmarks/time_to_accuracy.py --seed 0 --json tta.json

PyTorch is optional (``pip install -e '.[bench]'``); without it, only digitnet's row is measured.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time

import numpy as np
from speed import cpu_model, torch_network  # this folder's speed benchmark: the same network conversion

from digitnet.data import load_mnist
from digitnet.imaging.augment import AUGMENTATIONS
from digitnet.nn import Callback
from digitnet.nn.schedules import make_schedule
from digitnet.training.config import TrainConfig
from digitnet.training.presets import get_preset
from digitnet.training.runs import build_model, train

TARGETS = (0.990, 0.995)


class TestAccuracyClock(Callback):
    """After every epoch: the training time so far (evaluation excluded) and the test accuracy."""

    def __init__(self, test):
        self.test, self.epochs = test, []

    def on_train_begin(self, epochs, batches_per_epoch):
        self.start, self.paused = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch, logs):
        stop = time.perf_counter()
        accuracy = self.model.evaluate(self.test.x, self.test.y)["accuracy"]
        self.epochs.append({"epoch": epoch, "seconds": stop - self.start - self.paused, "accuracy": accuracy})
        self.paused += time.perf_counter() - stop


def run_digitnet(config: TrainConfig) -> list[dict]:
    data = load_mnist(validation_size=0)
    clock = TestAccuracyClock(data.test)
    train(config, data, callbacks=[clock])
    return clock.epochs


def fit_batches(config: TrainConfig, x: np.ndarray, y: np.ndarray):
    """Yield (epoch, batch index, batches per epoch, images, labels) in the order ``fit`` trains on them.

    The generators are seeded and drawn in fit's sequence: ``runs.train``'s stream, from which the
    augmentation's stream is split off first, then one seed per extra worker process, then one permutation
    per epoch; each batch is distorted from the augmentation's stream as it is drawn. (Dropout's masks
    also draw from the first stream, after the permutation, so a recipe with dropout would diverge.)
    """
    augment = AUGMENTATIONS[config.augment] if config.augment else None
    rng = np.random.default_rng([config.seed, 1])
    augment_rng = np.random.default_rng(rng.integers(2**63)) if augment is not None else None
    for _ in range(config.workers - 1):
        rng.integers(2**63)
    n, b = len(x), config.batch_size
    batches = math.ceil(n / b)
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(n)
        for i in range(batches):
            idx = order[i * b : (i + 1) * b]
            xb = x[idx]
            yield epoch, i, batches, (augment(xb, augment_rng) if augment is not None else xb), y[idx]


def check_same_batches(config: TrainConfig) -> str:
    """Train digitnet briefly (2 epochs of 640 images) and compare every distorted batch it trained on with
    what :func:`fit_batches` gives: the PyTorch run's data is only the same if this holds."""
    if config.augment is None:
        return "not checked (no augmentation to observe the batches through)"
    small = config.replace(epochs=2, train_size=640)
    data = load_mnist(validation_size=0)
    seen, distort = [], AUGMENTATIONS[config.augment]

    def recording(images, rng):
        seen.append(distort(images, rng))
        return seen[-1]

    AUGMENTATIONS[config.augment] = recording
    try:
        train(small, data)
    finally:
        AUGMENTATIONS[config.augment] = distort
    x, y = data.train.x[:640].reshape(-1, 1, 28, 28), data.train.y[:640]
    expected = [xb for *_, xb, _ in fit_batches(small, x, y)]
    same = len(seen) == len(expected) and all(
        np.array_equal(a.reshape(b.shape), b) for a, b in zip(seen, expected)
    )
    if not same:
        raise SystemExit("the PyTorch run would not see digitnet's batches: fit_batches is out of date")
    return f"checked: the {len(seen)} batches of a 2-epoch run on 640 images are identical"


def run_pytorch(config: TrainConfig, threads: int) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    data = load_mnist(validation_size=0)
    test_x, test_y = torch.from_numpy(data.test.x.reshape(-1, 1, 28, 28)), torch.from_numpy(data.test.y)
    net = torch_network(torch, config)
    weights = [m.weight for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    others = [p for p in net.parameters() if all(p is not w for w in weights)]
    optimizer = torch.optim.Adam(
        [{"params": weights, "weight_decay": config.l2}, {"params": others, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    schedule = make_schedule(config.schedule, config.epochs)
    epochs, start, paused = [], time.perf_counter(), 0.0
    net.train()
    for epoch, i, batches, xb, yb in fit_batches(config, data.train.x.reshape(-1, 1, 28, 28), data.train.y):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * schedule(epoch - 1 + i / batches)
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i == batches - 1:  # the epoch's last batch: test with the clock stopped
            stop = time.perf_counter()
            net.eval()
            with torch.inference_mode():
                accuracy = float((net(test_x).argmax(1) == test_y).double().mean())
            net.train()
            epochs.append({"epoch": epoch, "seconds": stop - start - paused, "accuracy": accuracy})
            paused += time.perf_counter() - stop
    return epochs


def first_at(epochs: list[dict], target: float) -> dict | None:
    """The first epoch whose test accuracy is at least ``target``, or None."""
    return next((e for e in epochs if e["accuracy"] >= target), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast-cnn", help="the recipe to train (default: fast-cnn)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, order and distortions")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead of the preset's")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads (default: 2)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--framework", choices=("digitnet", "PyTorch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    config = get_preset(args.preset).replace(seed=args.seed, validation_size=0)
    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if config.cost != "cross-entropy" or config.optimizer != "adam" or not config.conv:
        parser.error("this benchmark replicates convolutional recipes with Adam and cross-entropy only")
    if config.dropout or config.input_dropout or config.oversample or config.class_weighted:
        parser.error(
            f"preset {args.preset!r} uses dropout, oversampling or class weights: their random draws or "
            "weights are not replayed for PyTorch, so the two runs would not see the same batches"
        )
    if args.framework:  # a child process: one framework, its epochs as JSON on stdout
        epochs = run_digitnet(config) if args.framework == "digitnet" else run_pytorch(config, args.threads)
        print(json.dumps(epochs))
        return 0

    try:
        import torch

        frameworks = ["digitnet", "PyTorch"]
        versions = f"PyTorch {torch.__version__} ({args.threads} threads)"
    except ImportError:
        frameworks, versions = ["digitnet"], "PyTorch not installed"
    size = build_model(config).n_params
    print(
        f"{args.preset}: {size:,} parameters, {config.epochs} epochs, seed {args.seed}\n"
        f"{cpu_model()}, Python {platform.python_version()}, NumPy {np.__version__}, {versions}\n"
    )
    print(f"same batches in both frameworks: {check_same_batches(config)}\n")
    results = {}
    for framework in frameworks:
        command = [sys.executable, __file__, "--preset", args.preset, "--seed", str(args.seed)]
        command += ["--epochs", str(config.epochs)]
        command += ["--threads", str(args.threads), "--framework", framework]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode != 0:
            raise SystemExit(f"the {framework} run failed:\n{child.stderr}")
        results[framework] = json.loads(child.stdout)

    header = f"{'framework':10s}" + "".join(f" {'to ' + format(t, '.1%'):>16s}" for t in TARGETS)
    print(header + f" {'final':>8s} {'total':>8s}")
    for framework, epochs in results.items():
        cells = []
        for target in TARGETS:
            hit = first_at(epochs, target)
            cells.append(
                f"{hit['seconds']:7.1f} s (ep {hit['epoch']:2d})" if hit else f"{'not reached':>16s}"
            )
        final = epochs[-1]
        print(f"{framework:10s} " + " ".join(cells) + f" {final['accuracy']:8.2%} {final['seconds']:7.1f}s")
    print("\ntest accuracy after each epoch:")
    for framework, epochs in results.items():
        print(f"  {framework:10s} " + " ".join(f"{100 * e['accuracy']:.2f}" for e in epochs))
    if args.json:
        record = {"preset": args.preset, "seed": args.seed, "cpu": cpu_model(), "epochs": results}
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
