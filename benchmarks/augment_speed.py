"""How long :class:`digitnet.imaging.Augment` takes to distort all 60,000 MNIST training images.

For each batch size, the whole training set is augmented batch by batch, ``--repeats`` times; the table
gives the fastest and the median pass in seconds and the fastest in images per second, with the default
distortions and with elastic distortion off. The fastest pass is the best estimate of the cost on an
idle machine; the median shows how much other work on the machine got in the way.

    DIGITNET_DATA=../shared/data/mnist python benchmarks/augment_speed.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from digitnet.data import load_mnist
from digitnet.imaging import Augment


def one_pass(augment: Augment, x: np.ndarray, batch_size: int, rng: np.random.Generator) -> float:
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        augment(x[i : i + batch_size], rng)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding the MNIST files")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()

    x = load_mnist(args.data_dir, validation_size=0, progress=False).train.x  # (60000, 784)
    rng = np.random.default_rng(0)
    settings = [("defaults", Augment()), ("no elastic", Augment(elastic_alpha=0))]
    print(f"{len(x)} images, {args.repeats} passes each")
    print(f"{'distortions':<12} {'batch':>6} {'fastest s':>10} {'median s':>10} {'images/s':>10}")
    for name, augment in settings:
        for batch_size in args.batch_sizes:
            times = [one_pass(augment, x, batch_size, rng) for _ in range(args.repeats)]
            best = min(times)
            print(
                f"{name:<12} {batch_size:>6} {best:>10.3f} {statistics.median(times):>10.3f} "
                f"{len(x) / best:>10,.0f}"
            )


if __name__ == "__main__":
    main()
