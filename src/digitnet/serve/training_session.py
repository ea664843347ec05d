"""One training at a time, started from the page: run on a thread of its own, watched as a stream of events.

A :class:`TrainingSession` trains through the one training path (:func:`digitnet.training.runs.train`),
so the page's settings and seed give the weights ``digitnet train`` gives. Its thread never holds a
request: the server's handlers only start it, pause, resume or stop it, and read its events. Each event
is a JSON-able dict with a sequence number ``seq``:

=============  ================================================================================
``start``      the configuration, its architecture, the batches per epoch, the 10 watched digits
``batch``      batch and epoch counters, the batch's cost and the running mean, seconds left
               (at most :data:`BATCH_EVENTS_PER_SECOND` a second)
``snapshot``   the first layer's weights as images and the network's answers on the 10 watched
               digits (every :data:`SNAPSHOT_SECONDS`, and at each epoch's end)
``epoch``      the epoch's training and validation accuracy and cost, the validation confusion matrix
``state``      paused, resumed, stopping
``done``       the saved model's name and folder (stopped: the last finished epoch's model, as Ctrl-C
               on ``digitnet train`` keeps it); ``failed`` with the reason instead
=============  ================================================================================
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.data import load_mnist
from digitnet.modelfile import load_model
from digitnet.modelfile.run_folder import write_run
from digitnet.nn import Callback
from digitnet.nn.inspect import first_layer_images
from digitnet.training.config import TrainConfig
from digitnet.training.finished import FinishedEpochs
from digitnet.training.runs import train

__all__ = ["BATCH_EVENTS_PER_SECOND", "SNAPSHOT_SECONDS", "Busy", "TrainingSession"]

BATCH_EVENTS_PER_SECOND = 10
SNAPSHOT_SECONDS = 0.5
MAX_EVENTS = 5_000  # kept for late listeners; a listener further behind starts from the oldest kept
WATCHED = 10  # validation digits whose answers the page shows: the first of each class


class Busy(RuntimeError):
    """A training is already running (or paused): one at a time per server."""


class _Stopped(KeyboardInterrupt):
    """Raised inside the training loop when the page asks it to stop: to a training started by ``digitnet
    train --watch``, the same as Ctrl-C (it keeps the last finished epoch)."""


class TrainingSession:
    """The server's one training: its state, its thread and its events.

    ``models`` is the server's dict of served models, by name: a finished (or stopped) training's model is
    added to it, so the drawing page can use it at once. ``runs`` is the folder run folders are saved in.
    """

    def __init__(self, models: dict[str, Any], runs: Path, data_dir: str | None = None):
        self.models, self.runs, self.data_dir = models, Path(runs), data_dir
        self.state = "idle"  # running, paused, stopping, then done, stopped or failed
        self.config: TrainConfig | None = None
        self.architecture: str | None = None
        self.label = ""
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._seq = 0
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_event: dict[str, Any] | None = None
        self.watch_only = False  # digitnet train --watch: its page watches, it never starts a training
        self.closing = threading.Event()  # the server is stopping: event streams end now

    # ----- what the handlers call ---------------------------------------------------------------

    def start(self, config: TrainConfig, label: str) -> dict[str, Any]:
        """Start training ``config`` (``label`` names its recipe in the metrics); Busy if one runs."""
        self._claim(config, label, config.architecture)
        self._thread = threading.Thread(target=self._run, name="digitnet-training", daemon=True)
        self._thread.start()
        return self.status()

    def pause(self) -> dict[str, Any]:
        return self._change("running", "paused", self._resume.clear)

    def resume(self) -> dict[str, Any]:
        return self._change("paused", "running", self._resume.set)

    def stop(self, wait: float | None = None) -> dict[str, Any]:
        """Ask the training to stop after its current batch; with ``wait``, join its thread that long."""
        with self._lock:
            if self.state in ("running", "paused"):
                self.state = "stopping"
                self._emit({"type": "state", "state": "stopping"})
        self._stop.set()
        self._resume.set()
        if wait is not None and self._thread is not None:
            self._thread.join(wait)
        return self.status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "architecture": self.architecture,
                "recipe": self.label,
                "events": self._seq,
            }

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        """The events numbered above ``seq``, oldest first."""
        with self._lock:
            newer = [e for e in self._events if e["seq"] > seq]
            start = self._start_event
            if start is not None and start["seq"] > seq and (not newer or newer[0]["seq"] > start["seq"]):
                newer.insert(0, start)  # evicted from the store, still the first thing a page needs
            return newer

    def fine_tune(self, name: str, loaded, mine, kept, epochs: int) -> dict[str, Any]:
        """Train the served model ``name`` a little on MNIST mixed with a learner's drawings ``mine``
        ((x, y): their 28x28 inputs, as the page prepares them), measured before and after on the drawings
        ``kept`` apart and on MNIST's test digits; saved as a new model, the original untouched."""
        self._claim(None, f"fine-tuning {name}", loaded.model.architecture)
        self._thread = threading.Thread(
            target=self._fine_tune,
            args=(name, loaded, mine, kept, epochs),
            name="digitnet-fine-tune",
            daemon=True,
        )
        self._thread.start()
        return self.status()

    def _fine_tune(self, name, loaded, mine, kept, epochs) -> None:
        from digitnet.serve.fine_tune import fine_tuned

        folder = self._free_folder(f"{name}-mine-{datetime.now():%Y%m%d-%H%M%S}")
        try:
            data = load_mnist(self.data_dir, validation_size=10_000, download=False, progress=False)
            live = _Live(self, data.validation.x, data.validation.y)
            said = fine_tuned(loaded, name, data, mine, kept, epochs, folder, [live])
            self._end("done", folder, said)
        except _Stopped:
            self._end(
                "stopped", None, "stopped: the fine-tuned model was not saved (the original is as it was)"
            )
        except Exception as exc:  # noqa: BLE001 - the page's to show
            with self._lock:
                self.state = "failed"
                self._emit({"type": "failed", "reason": str(exc) or type(exc).__name__})

    def watching(self, config: TrainConfig, label: str, val_x: np.ndarray, val_y: np.ndarray) -> Callback:
        """Watch a training that runs elsewhere (``digitnet train --watch``): the callback to give it; its
        end is told with :meth:`watched_end`. The page's Pause and Stop reach it through the callback."""
        self._claim(config, label, config.architecture, watch=True)
        return _Live(self, val_x, val_y)

    def watched_end(self, state: str, name: str | None, folder: str, said: str) -> None:
        with self._lock:
            self.state = state
            self._emit({"type": "done", "state": state, "model": name, "folder": folder, "said": said})

    @property
    def finished(self) -> bool:
        return self.state in ("idle", "done", "stopped", "failed")

    # ----- the training thread ----------------------------------------------------------------

    def _change(self, before: str, after: str, action) -> dict[str, Any]:
        with self._lock:
            if self.state != before:
                raise Busy(f"the training is {self.state}, not {before}")
            self.state = after
            action()
            self._emit({"type": "state", "state": after})
        return self.status()

    def _claim(self, config: TrainConfig | None, label: str, architecture: str, watch: bool = False) -> None:
        """Make this session the new training's, running, with no events, not paused and no stop asked;
        Busy while another runs, and always for a page that only watches (``watch``: become one)."""
        with self._lock:
            if self.watch_only and not watch:
                raise Busy("this page watches a training started by digitnet train --watch; it starts none")
            if self.state in ("running", "paused", "stopping"):
                raise Busy(f"a training is {self.state}: {self.architecture} ({self.label})")
            self.watch_only = self.watch_only or watch
            self.state, self.config, self.label, self.architecture = "running", config, label, architecture
            self._begin()

    def _begin(self) -> None:
        """A new training's first moments (the lock held): no events, not paused, no stop asked."""
        self._events.clear()
        self._start_event = None
        self._resume.set()
        self._stop.clear()

    def _emit(self, event: dict[str, Any]) -> None:
        """Add an event (the lock is held by the caller, or taken here from the training thread)."""
        self._seq += 1
        event = {"seq": self._seq, **event}
        if event["type"] == "snapshot":  # only the newest keeps its images: 5,000 of them would be 350 MB
            for old in reversed(self._events):
                if old["type"] == "snapshot":
                    old.pop("weights", None)
                    break
        elif event["type"] == "start":
            self._start_event = event  # kept apart: a page opened late still gets the watched digits
        self._events.append(event)

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._emit(event)

    def _run(self) -> None:
        config, finished = self.config, FinishedEpochs()
        folder = self._free_folder(f"page-{datetime.now():%Y%m%d-%H%M%S}")
        try:
            data = load_mnist(
                self.data_dir,
                validation_size=config.validation_size,
                train_size=config.train_size,
                download=False,
                progress=False,
            )
            live = _Live(self, data.validation.x, data.validation.y)
            try:
                result = train(config, data, callbacks=[live, finished], progress=False)
            except _Stopped:
                saved = finished.saved(config, self.label, len(data.train))
                if saved is None:
                    self._end("stopped", None, "stopped during the first epoch, so nothing was saved")
                    return
                model, history, metrics = saved
                write_run(folder, model, training=config.to_dict(), history=history, metrics=metrics)
                self._end("stopped", folder, f"stopped after epoch {len(finished.epochs)}")
                return
            metrics = {"preset": self.label, **result.metrics}
            history = result.history.to_dict()
            write_run(folder, result.model, training=config.to_dict(), history=history, metrics=metrics)
            self._end("done", folder, f"test accuracy {result.metrics['test_accuracy']:.2%}")
        except Exception as exc:  # noqa: BLE001 - any failure is the page's to show, never the server's end
            with self._lock:
                self.state = "failed"
                self._emit({"type": "failed", "reason": str(exc) or type(exc).__name__})

    def _free_folder(self, name: str) -> Path:
        """A run folder of ``name`` that neither exists nor names a served model (two in one second)."""
        folder = self.runs / name
        while folder.exists() or folder.name in self.models:
            folder = folder.with_name(folder.name + "+")
        return folder

    def _end(self, state: str, folder: Path | None, said: str) -> None:
        name = None
        if folder is not None:
            name = folder.name
            self.models[name] = load_model(folder / "model.safetensors")  # the drawing page's list, at once
        with self._lock:
            self.state = state
            self._emit(
                {"type": "done", "state": state, "model": name, "folder": str(folder or ""), "said": said}
            )


class _Live(Callback):
    """The training's events, from inside the loop; where a pause waits and a stop is raised."""

    def __init__(self, session: TrainingSession, val_x: np.ndarray, val_y: np.ndarray):
        self.session, self.val_x, self.val_y = session, val_x, val_y
        picks = [int(np.flatnonzero(val_y == c)[0]) for c in range(10) if (val_y == c).any()]
        self.watched = val_x[picks]  # (10, 784): one validation digit of each class
        self.watched_labels = val_y[picks]
        self.last_batch = self.last_snapshot = 0.0

    def on_train_begin(self, epochs, batches_per_epoch):
        self.epochs, self.batches = epochs, batches_per_epoch
        self.started, self.done, self.cost_sum, self.seen = time.monotonic(), 0, 0.0, 0
        config = self.session.config
        self.session.emit(
            {
                "type": "start",
                "architecture": self.model.architecture,
                "config": {} if config is None else config.to_dict(),
                "epochs": epochs,
                "batches_per_epoch": batches_per_epoch,
                "watched": np.round(self.watched, 3).tolist(),
                "watched_labels": self.watched_labels.tolist(),
            }
        )
        self._snapshot(0)

    def on_epoch_begin(self, epoch):
        self.cost_sum, self.seen = 0.0, 0

    def on_batch_end(self, epoch, batch, loss):
        self.done += 1
        self.cost_sum, self.seen = self.cost_sum + loss, self.seen + 1
        now = time.monotonic()
        if now - self.last_batch >= 1 / BATCH_EVENTS_PER_SECOND or batch == self.batches:
            self.last_batch = now
            left = (self.epochs * self.batches - self.done) * (now - self.started) / self.done
            self.session.emit(
                {
                    "type": "batch",
                    "epoch": epoch,
                    "batch": batch,
                    "batches": self.batches,
                    "done": self.done,
                    "cost": float(loss),
                    "mean_cost": self.cost_sum / self.seen,
                    "seconds_left": round(left, 1),
                }
            )
        if now - self.last_snapshot >= SNAPSHOT_SECONDS:
            self._snapshot(epoch)
        self._wait_or_stop()

    def on_epoch_end(self, epoch, logs):
        predicted = self.model.predict(self.val_x) if len(self.val_x) else np.zeros(0, int)
        confusion = np.zeros((10, 10), int)
        np.add.at(confusion, (self.val_y.astype(int), predicted.astype(int)), 1)
        self.session.emit(
            {
                "type": "epoch",
                **{k: v for k, v in logs.items() if isinstance(v, (int, float))},
                "confusion": confusion.tolist(),
            }
        )
        self._snapshot(epoch)

    def _snapshot(self, epoch: int) -> None:
        self.last_snapshot = time.monotonic()
        images = first_layer_images(self.model)
        probabilities = self.model.predict_proba(self.watched) if len(self.watched) else np.zeros((0, 10))
        self.session.emit(
            {
                "type": "snapshot",
                "epoch": epoch,
                "weights": None if images is None else np.round(images, 3).tolist(),
                "answers": probabilities.argmax(axis=1).tolist(),
                "confidence": np.round(probabilities.max(axis=1), 4).tolist(),
            }
        )

    def _wait_or_stop(self) -> None:
        session = self.session
        while not session._resume.wait(0.2):  # paused: the thread waits here, holding nothing
            if session._stop.is_set():
                break
        if session._stop.is_set():
            raise _Stopped
