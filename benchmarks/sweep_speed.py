"""How much sooner a sweep of equal trainings ends with one process per core than with one process.

The same sweep (one configuration, ``--runs`` seeds) is run through :func:`digitnet.sweeps.run_sweep`
with 1 process and with ``--processes`` processes, each run on one BLAS thread as every sweep runs, into
fresh folders; the wall time includes starting the processes, loading MNIST in each and writing every
run's files. Beside them, the same runs trained one after another in one process with the BLAS's
default threads (what a loop of ``digitnet train`` does, minus its start-up and files). The ratios
are the speed-up a user sees; on an idle machine they are bounded by the cores and by the memory
bandwidth the runs share.
Repeated ``--repeats`` times, alternating, fastest kept.

    DIGITNET_DATA=../shared/data/mnist python benchmarks/sweep_speed.py
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from digitnet.data import load_mnist
from digitnet.sweeps import LocalProcesses, SweepSpec, available_cores, run_sweep
from digitnet.training.config import TrainConfig
from digitnet.training.runs import train


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(spec: SweepSpec, processes: int, data_dir: str | None) -> float:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        outcome = run_sweep(spec, Path(folder), LocalProcesses(processes), data_dir=data_dir)
        seconds = time.perf_counter() - start
    assert outcome.trained == len(outcome.runs) and not outcome.failed
    return seconds


def one_after_another(spec: SweepSpec, data_dir: str | None) -> float:
    """The runs trained in this process one by one, as a loop of ``digitnet train`` would, with the
    BLAS's default threads (every core); MNIST loaded once, no files written."""
    data = load_mnist(data_dir, progress=False)
    start = time.perf_counter()
    for run in spec.runs():
        train(run.config, data)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding the MNIST files")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=available_cores())
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    config = TrainConfig(epochs=args.epochs)  # 784-100-10 ReLU, Adam, on 50,000 images
    spec = SweepSpec(base=config, seeds=tuple(range(args.runs)))
    cores = available_cores()
    print(
        f"{args.runs} runs of {config.architecture}, {args.epochs} epochs each; {cpu_name()}, {cores} cores"
    )
    best = {1: float("inf"), args.processes: float("inf")}
    loop = float("inf")
    for _ in range(args.repeats):
        for processes in best:
            best[processes] = min(best[processes], timed(spec, processes, args.data_dir))
        loop = min(loop, one_after_another(spec, args.data_dir))
    one, many = best[1], best[args.processes]
    rows = [
        ("one after another, every BLAS thread", loop),
        ("sweep, 1 process", one),
        (f"sweep, {args.processes} processes", many),
    ]
    for label, seconds in rows:
        print(f"{label:<38} {seconds:6.1f} s  ({seconds / args.runs:.2f} s per run)")
    print(
        f"speed-up of {args.processes} processes: {loop / many:.2f}x over one after another, "
        f"{one / many:.2f}x over 1 process"
    )


if __name__ == "__main__":
    main()
