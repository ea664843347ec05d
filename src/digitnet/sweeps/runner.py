"""Running a sweep: every run that is not yet done, on a backend, each recorded as it finishes.

The sweep folder::

    sweep.json            what the sweep trains (the SweepSpec)
    runs/<key>/           one folder per finished run, named by the run's key:
        model.safetensors   the trained network (left out where models are not kept)
        metrics.json        its configuration, metrics and history, naming the model's checksum
    results.json          every run, the table and the best configuration (rewritten as runs finish)

A run is *done* when its ``metrics.json`` is there, belongs to the model beside it and records the very
configuration of the run. Running the same sweep again trains only the runs that are not done: after
Ctrl-C, a crash or a lost worker nothing finished is lost and nothing is trained twice. A run that fails
(its training raises, or its process or worker dies) is tried again up to ``retries`` times, then
reported with its error while the rest of the sweep goes on. A run whose files cannot be written (a
full disk) is saved in a rescue folder instead (:mod:`digitnet.rescue`), and the outcome says where.
When a process of this machine's pool dies, every run in flight fails with it; those runs are not
charged a try but are tried again one at a time, so that only a run that kills its process itself uses up
its tries.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections import deque
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitnet.atomic import atomic_write
from digitnet.errors import DigitnetError, ModelFileError
from digitnet.files import read_bounded
from digitnet.modelfile.container import load_bounded_json
from digitnet.modelfile.records import check_records
from digitnet.modelfile.run_folder import METRICS_FILE, MODEL_FILE, read_record, write_run
from digitnet.nn import Sequential
from digitnet.rescue import save_or_rescue
from digitnet.sweeps.results import summarise
from digitnet.sweeps.spec import Run, SweepSpec
from digitnet.sweeps.task import RunFailed, train_run
from digitnet.training.config import TrainConfig

__all__ = ["SweepOutcome", "done_record", "run_sweep"]


@dataclass
class SweepOutcome:
    """What a sweep ended with: a record per finished run (by key), the errors of the failed ones."""

    spec: SweepSpec
    runs: list[Run]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    trained: int = 0  # runs trained this time (the rest were done already)
    seconds: float = 0.0
    shunned: dict[str, str] = field(default_factory=dict)  # workers given no more runs, and why
    rescued: dict[str, Path] = field(default_factory=dict)  # runs that could not be saved in the sweep
    save_errors: list[str] = field(default_factory=list)  # what each failed save said, naming both folders

    @property
    def summary(self) -> dict[str, Any]:
        return summarise(self.spec, self.runs, self.records, self.failed)


def done_record(folder: Path, run: Run) -> dict[str, Any] | None:
    """The record of ``run`` in its folder if it finished there, else None (missing, torn or another's)."""
    path = folder / METRICS_FILE
    if not path.is_file():
        return None
    try:
        record = read_record(path)
        check_records(path, {"training": record.get("config"), "metrics": record.get("metrics")})
    except (ValueError, ModelFileError):  # torn between its two files, replaced or corrupt: train it again
        return None
    if not _same_config(record.get("config"), run.config) or not isinstance(record.get("metrics"), dict):
        return None
    if "model_sha256" in record and not (folder / MODEL_FILE).is_file():
        return None  # its model was saved, then removed: the run is not done
    return record


def _same_config(recorded: Any, config: TrainConfig) -> bool:
    """Whether a record's configuration is ``config``: equal, or written before some of its settings
    existed and equal to it with those at their defaults (:meth:`TrainConfig.key_dict`)."""
    if recorded == config.to_dict():
        return True
    try:
        return TrainConfig.from_dict(recorded).key_dict() == config.key_dict()
    except (TypeError, ValueError):
        return False


def _fetched(backend, future) -> tuple[BaseException | None, Any]:
    """A finished run's (error, result); ConnectionError when fetching them finds the cluster gone (a Dask
    scheduler killed while a result travelled raises distributed's CommClosedError, an OSError, here)."""
    try:
        error = future.exception()
        return error, (future.result() if error is None else None)
    except OSError:
        raise ConnectionError(backend.gone) from None


def run_sweep(
    spec: SweepSpec,
    out: Path,
    backend,
    *,
    data_dir: str | None = None,
    retries: int = 2,
    keep_models: bool = True,
    progress=None,
) -> SweepOutcome:
    """Train every run of ``spec`` not yet done in ``out`` on ``backend``; returns the outcome.

    ``progress`` is an object with ``start(total, done)``, ``update(done, running, failed)`` and
    ``close()`` (:class:`digitnet.sweeps.progress.SweepProgress`), or None.
    Ctrl-C stops the runs in flight and raises ``KeyboardInterrupt`` saying how many are done; what
    finished stays recorded.
    """
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with _one_sweep_at_a_time(out):
        _check_same_sweep(out, spec)
        _write_json(out / "sweep.json", spec.to_dict())
        return _run(spec, out, backend, data_dir, retries, keep_models, progress)


def _run(spec, out: Path, backend, data_dir, retries: int, keep_models: bool, progress) -> SweepOutcome:
    """:func:`run_sweep` once its folder is its own."""
    runs = spec.runs()
    outcome = SweepOutcome(spec, runs)
    todo = deque()
    for run in runs:
        record = done_record(out / "runs" / run.key, run)
        if record is None:
            todo.append(run)
        else:
            outcome.records[run.key] = record
    start = time.perf_counter()
    attempts: dict[str, int] = {}
    flying: dict[Any, Run] = {}
    if progress is not None:
        progress.start(len(runs), len(outcome.records))
    suspects: set[str] = set()  # runs whose process died beside others: tried next alone, to see
    workers = _Workers()  # where runs failed: a retry goes elsewhere, a worker that only fails gets none
    try:
        while todo or flying:
            while todo and len(flying) < backend.capacity and not (flying and todo[0].key in suspects):
                run = todo.popleft()
                args = (train_run, run.config.to_dict(), data_dir, keep_models)
                flying[backend.submit(*args, avoid=workers.avoid(run.key))] = run
                if run.key in suspects:
                    break  # alone: if its process dies again, it is the one that kills it
            if progress is not None:
                progress.update(len(outcome.records), len(flying), len(outcome.failed))
            finished = backend.wait(flying, 0.5)  # ConnectionError: the cluster is gone (below)
            fetched = {future: _fetched(backend, future) for future in finished}  # (error, result) each
            lost = [f for f in finished if backend.lost(fetched[f][0])]
            for future in finished:
                run = flying.pop(future)
                error, result = fetched[future]
                if error is None:
                    suspects.discard(run.key)
                    workers.succeeded(result.get("where", result["worker"]))
                    _keep(outcome, out, run, result)
                    continue
                if isinstance(error, RunFailed) and backend.routes and workers.failed(run.key, error):
                    outcome.shunned[error.worker] = error.error
                if future in lost and len(lost) > 1:  # one process died and took the others' runs along
                    suspects.add(run.key)
                    todo.appendleft(run)
                    continue
                attempts[run.key] = attempts.get(run.key, 0) + 1
                if attempts[run.key] <= retries:
                    todo.appendleft(run)
                else:
                    said = str(error) if isinstance(error, RunFailed) else f"{type(error).__name__}: {error}"
                    outcome.failed[run.key] = said
    except ConnectionError as exc:  # the cluster itself is gone: what finished is saved
        raise ConnectionError(
            f"{exc}; {len(outcome.records)} of {len(runs)} runs are done and recorded in {out}: run the "
            "same command again to continue"
        ) from None
    except KeyboardInterrupt:
        for future in flying:
            future.cancel()
        raise KeyboardInterrupt(
            f"with {len(outcome.records)} of {len(runs)} runs done and recorded in {out}; run the same "
            "sweep again to train the rest"
        ) from None
    finally:
        outcome.seconds = time.perf_counter() - start
        backend.close()
        if progress is not None:
            progress.update(len(outcome.records), 0, len(outcome.failed))
            progress.close()
        _save_summary(outcome, out)
    return outcome


class _Workers:
    """Where runs failed: a run is not tried again on a worker it failed on, and a worker that has failed
    :data:`SHUN_AFTER` runs without finishing one (no MNIST there, a broken install) gets no more."""

    SHUN_AFTER = 2

    def __init__(self):
        self.failed_on: dict[str, set[str]] = {}  # run key -> workers it failed on
        self.failures: dict[str, int] = {}
        self.good: set[str] = set()

    def avoid(self, key: str) -> frozenset[str]:
        shunned = {w for w, n in self.failures.items() if n >= self.SHUN_AFTER and w not in self.good}
        return frozenset(self.failed_on.get(key, set()) | shunned)

    def succeeded(self, worker: str) -> None:
        self.good.add(worker)

    def failed(self, key: str, error: RunFailed) -> bool:
        """Count the failure; True when it makes its worker one to shun from now on."""
        self.failed_on.setdefault(key, set()).add(error.worker)
        self.failures[error.worker] = self.failures.get(error.worker, 0) + 1
        return self.failures[error.worker] == self.SHUN_AFTER and error.worker not in self.good


def _keep(outcome: SweepOutcome, out: Path, run: Run, result: dict[str, Any]) -> None:
    """Record a finished run in its folder, or, if that write fails (a full disk), in a rescue folder:
    a trained run is never lost. The summary is rewritten after each run while the disk allows."""
    record, folder, error = save_or_rescue(
        lambda folder: _record(folder, run, result), out / "runs" / run.key, "sweep", f"run {run.key}"
    )
    outcome.records[run.key] = record
    outcome.trained += 1
    if error is not None:
        outcome.rescued[run.key] = folder
        outcome.save_errors.append(str(error))
        return
    with suppress(OSError):  # rewritten after every run and at the end: one failed rewrite loses nothing
        _write_json(out / "results.json", outcome.summary)


def _save_summary(outcome: SweepOutcome, out: Path) -> None:
    """Write ``results.json`` at the end, into a rescue folder if the sweep's own cannot take it."""
    _, _, error = save_or_rescue(
        lambda folder: _write_json(folder / "results.json", outcome.summary), out, "sweep", "results.json"
    )
    if error is not None:
        outcome.save_errors.append(str(error))


@contextmanager
def _one_sweep_at_a_time(out: Path):
    """Hold ``out/.lock`` while the sweep runs: a second ``digitnet sweep`` into the same folder is refused
    at once, not left to write the same runs' files beside the first."""
    with open(out / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"another sweep is running in {out} (it holds {out / '.lock'}); wait for it, or give "
                "another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_same_sweep(out: Path, spec: SweepSpec) -> None:
    """Refuse a sweep into a folder that holds another one's ``sweep.json``, showing what differs; the same
    sweep again (to train what is missing) passes, and so does a folder whose record is unreadable."""
    try:
        recorded = load_bounded_json(read_bounded(out / "sweep.json", what="sweep record", limit=16_000_000))
    except (DigitnetError, ValueError):  # missing, not a file, too large, too deep, not JSON: nothing to keep
        return
    mine = spec.to_dict()
    if not isinstance(recorded, dict) or recorded == mine:
        return
    differ = [k for k in sorted(set(mine) | set(recorded)) if mine.get(k) != recorded.get(k)]
    shown = "; ".join(f"{k}: {_brief(recorded.get(k))} there, {_brief(mine.get(k))} here" for k in differ[:3])
    raise ValueError(
        f"{out} holds another sweep ({shown}); its results would be overwritten. Give another --out, "
        "or run that sweep's own command to finish it"
    )


def _brief(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _record(folder: Path, run: Run, result: dict[str, Any]) -> dict[str, Any]:
    """Write a finished run's files into ``folder`` and return its record."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {**result["metrics"], "worker": result["worker"]}  # flat: a model file records scalars
    training, history = run.config.to_dict(), result["history"]
    if "model" in result:
        architecture, arrays = result["model"]
        model = Sequential.from_config(architecture)
        model.set_state(arrays)
        write_run(folder, model, training=training, history=history, metrics=metrics)
        return read_record(folder / METRICS_FILE)
    record = {"metrics": metrics, "config": training, "history": history}
    _write_json(folder / METRICS_FILE, record)
    return record


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path, "w") as f:
        json.dump(value, f, indent=1)
