"""The bench every experiment runs on: data, the one training path, and where results go.

An experiment is a function ``run(lab)`` registered with :func:`experiment`. It trains through
``lab.train(config)`` (the same :func:`digitnet.training.runs.train` that ``digitnet train`` uses), saves
figures with ``lab.figure(name, fig)``, records numbers with ``lab.record(...)`` and writes a short
text summary with ``lab.say(...)``. ``lab.quick`` asks for a small, fast version for tests: fewer
images, epochs and seeds, the same code.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.atomic import atomic_write
from digitnet.data import MNIST, load_mnist
from digitnet.errors import DigitnetError
from digitnet.jsonable import plain
from digitnet.training.config import TrainConfig
from digitnet.training.runs import TrainResult, train

__all__ = ["EXPERIMENTS", "Experiment", "Lab", "experiment", "nielsen_sgd"]


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    run: Callable[[Lab], None]


EXPERIMENTS: dict[str, Experiment] = {}
"""Experiment names, as ``digitnet experiment NAME`` spells them, to experiments."""


def experiment(name: str, description: str):
    """Decorator: register ``run(lab)`` as the experiment ``name``."""

    def register(run: Callable[[Lab], None]) -> Callable[[Lab], None]:
        EXPERIMENTS[name] = Experiment(name, description, run)
        return run

    return register


@dataclass
class Lab:
    """Where one run of one experiment happens.

    Parameters
    ----------
    name : str
        The experiment's name.
    out : Path
        Folder for the figures (PNG), ``results.json`` and ``summary.txt``.
    quick : bool
        Run the small version (for tests): fewer images, epochs and seeds.
    seed : int
        Base seed; an experiment derives every seed it uses from it.
    data_dir : str or None
        Where to look for MNIST first (see :func:`digitnet.data.load_mnist`).
    progress : bool
        Show progress bars while training.
    scheduler : str or None
        A Dask scheduler's address for :meth:`sweep` (None: this machine's cores).
    processes : int or None
        How many runs :meth:`sweep` trains at once on this machine (None: one per core).
    rescue : callable, optional
        Returns a fresh folder to write into if writing into ``out`` fails (disk full, folder removed),
        so a long run's results are never lost; the figures saved so far are copied there too.
        Default None: such a failure raises ``OSError``.

    Attributes
    ----------
    rescued_from : Path or None
        The original ``out`` if the results went to a rescue folder (then ``out`` is that folder).
    rescue_reason : str
        Why writing into the original ``out`` failed.
    """

    name: str
    out: Path
    quick: bool = False
    seed: int = 0
    data_dir: str | None = None
    progress: bool = False
    scheduler: str | None = None
    processes: int | None = None
    rescue: Callable[[], Path] | None = None
    rescued_from: Path | None = None
    rescue_reason: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)

    @cached_property
    def data(self) -> MNIST:
        """MNIST with the usual split: 50,000 train, 10,000 validation, 10,000 test."""
        return load_mnist(self.data_dir, progress=self.progress)

    def rng(self, *stream: int) -> np.random.Generator:
        """A generator for one purpose, derived from the lab's seed and ``stream``."""
        return np.random.default_rng([self.seed, *stream])

    def train(self, config: TrainConfig, data: MNIST | None = None, callbacks=()) -> TrainResult:
        """Train ``config`` on ``data`` (default: the lab's MNIST) through the one training path."""
        if self.progress:
            from digitnet.training.progress import ProgressBars

            callbacks = [*callbacks, ProgressBars()]
        return train(config, data if data is not None else self.data, callbacks=callbacks)

    def sweep(self, spec, *, keep_models: bool = False):
        """Train every run of ``spec`` (:class:`~digitnet.sweeps.SweepSpec`) the way ``digitnet sweep``
        does: at once on this machine's cores or on the lab's Dask cluster, recorded in
        ``<out>/sweep`` as each finishes, so running the experiment again trains only what is missing.
        Returns the :class:`~digitnet.sweeps.SweepOutcome`; its ``records[run_key(config)]["metrics"]``
        are each run's metrics. A run that still fails after its retries raises
        :class:`~digitnet.errors.DigitnetError` (the command line prints it as a message).
        """
        from digitnet.sweeps import DaskCluster, LocalProcesses, run_sweep
        from digitnet.sweeps.progress import SweepProgress

        backend = DaskCluster(self.scheduler) if self.scheduler else LocalProcesses(self.processes)
        outcome = run_sweep(
            spec,
            self.out / "sweep",
            backend,
            data_dir=self.data_dir,
            keep_models=keep_models,
            progress=SweepProgress(enabled=self.progress),
        )
        if outcome.failed:
            key, error = next(iter(outcome.failed.items()))
            raise DigitnetError(
                f"{len(outcome.failed)} of the experiment's trainings failed, e.g. run {key}: {error}; the "
                f"others are recorded in {self.out / 'sweep'}: run the experiment again to retry"
            )
        return outcome

    def figure(self, name: str, fig) -> Path:
        """Save a matplotlib figure as ``<out>/<name>.png``."""
        from digitnet.plots import save_figure

        path = self._write(lambda folder: save_figure(fig, folder / f"{name}.png"))
        self.figures.append(path)
        return path

    def record(self, **results: Any) -> None:
        """Add numbers to ``results.json`` (NumPy values become plain JSON)."""
        self.results.update(plain(results))

    def say(self, line: str) -> None:
        """Add a line to the text summary."""
        self.lines.append(line)

    def finish(self, seconds: float) -> None:
        """Write ``results.json`` and ``summary.txt``."""
        record = {
            "experiment": self.name,
            "quick": self.quick,
            "seed": self.seed,
            "seconds": round(seconds, 1),
            "results": self.results,
            "figures": [p.name for p in self.figures],
        }
        self._write(lambda folder: _write_text(folder / "results.json", json.dumps(record, indent=1)))
        self._write(lambda folder: _write_text(folder / "summary.txt", "\n".join(self.lines) + "\n"))

    def _write(self, write: Callable[[Path], Path]) -> Path:
        """``write(self.out)``; if that fails and a rescue is set, switch ``out`` to a rescue folder first."""
        try:
            return write(self.out)
        except OSError as exc:
            if self.rescue is None or self.rescued_from is not None:
                raise
            folder = self.rescue()
            for i, path in enumerate(self.figures):  # one folder holds everything: carry what was saved
                try:
                    self.figures[i] = Path(shutil.copy2(path, folder / path.name))
                except OSError:
                    pass  # unreadable now: it stays listed where it is
            self.rescued_from, self.rescue_reason, self.out = self.out, exc.strerror or str(exc), folder
            return write(self.out)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path


def run_experiment(name: str, lab: Lab) -> Lab:
    """Run the experiment ``name`` in ``lab`` and write its results; returns the lab."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    lab.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    EXPERIMENTS[name].run(lab)
    lab.finish(time.perf_counter() - start)
    return lab


def nielsen_sgd(seed: int, lr: float, epochs: int, **settings) -> TrainConfig:
    """Nielsen's bench for comparing neurons and costs: 784-30-10, plain SGD at a constant rate ``lr``,
    batch 10, no L2, weights from ``seed``; ``settings`` (activation, cost, ...) say what is compared."""
    return TrainConfig(
        hidden=(30,),
        optimizer="sgd",
        lr=lr,
        schedule="constant",
        batch_size=10,
        epochs=epochs,
        l2=0.0,
        seed=seed,
        **settings,
    )
