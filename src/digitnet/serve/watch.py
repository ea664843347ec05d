"""``digitnet train --watch PORT``: the training view of a training started from the command line.

A uvicorn server on a thread of the ``digitnet train`` process serves ``/train`` (see
:func:`~digitnet.serve.api.create_watch_app`) while the training runs; the page's Pause works as on the
server, and its Stop is Ctrl-C (the last finished epoch is saved). The server stops a second after the
training ends, once the page has had its last event.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from digitnet.nn import Callback
from digitnet.serve.api import create_watch_app
from digitnet.serve.connections import server_config
from digitnet.serve.training_session import TrainingSession
from digitnet.training.config import TrainConfig

__all__ = ["Watch"]


class Watch:
    """Serve the training view of one training on ``127.0.0.1:port``; ``callback`` goes to ``train``."""

    def __init__(self, port: int, config: TrainConfig, label: str, val_x: np.ndarray, val_y: np.ndarray):
        import uvicorn

        self.session = TrainingSession({}, Path("."))
        self.callback: Callback = self.session.watching(config, label, val_x, val_y)
        app = create_watch_app(self.session)
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
        self.server.install_signal_handlers = lambda: None  # Ctrl-C belongs to digitnet train, not to it
        self.thread = threading.Thread(target=self.server.run, name="digitnet-watch", daemon=True)
        self.thread.start()
        for _ in range(100):
            if self.server.started or not self.thread.is_alive():
                break
            time.sleep(0.05)
        if not self.server.started:
            raise ValueError(
                f"cannot serve the training view on 127.0.0.1:{port}; choose another --watch port"
            )
        self.url = f"http://127.0.0.1:{port}/train"

    def end(self, state: str, model: Path | None, said: str) -> None:
        """Tell the page how the training ended (``done`` or ``stopped``) and where its model is."""
        name = None if model is None else model.parent.name
        self.session.watched_end(state, name, "" if model is None else str(model.parent), said)

    def close(self) -> None:
        """Give the page a moment for the last event, end its stream, stop the server."""
        if self.session.state in ("running", "paused", "stopping"):  # it ended another way: an error
            self.session.watched_end("failed", None, "", "the training stopped with an error")
        time.sleep(1.0)
        self.session.closing.set()
        self.server.should_exit = True
        self.thread.join(timeout=10)
