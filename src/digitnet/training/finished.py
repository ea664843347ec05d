"""What a stopped training keeps: the model of the last finished epoch, as Ctrl-C on ``digitnet train`` and
a stop in the page's training view both save it."""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.nn import Callback, History, Sequential
from digitnet.training.config import TrainConfig
from digitnet.training.runs import build_model

__all__ = ["FinishedEpochs"]


class FinishedEpochs(Callback):
    """A copy of the weights, buffers and history at the end of each epoch: what a stop must not lose.

    A copy costs one pass over the parameters per epoch (5 MB for 784-800-800-10), nothing per batch.
    """

    def __init__(self):
        self.state: dict[str, np.ndarray] | None = None
        self.epochs: list[dict] = []

    def on_epoch_end(self, epoch, logs):
        self.state = {name: array.copy() for name, array in self.model.named_state().items()}
        self.epochs.append(dict(logs))

    def saved(
        self, config: TrainConfig, label: str, examples: int
    ) -> tuple[Sequential, dict[str, Any], dict[str, Any]] | None:
        """(model, history, metrics) of the last finished epoch, for a run folder; None before the first.

        The test digits are not scored (that is for a finished run: ``digitnet evaluate`` scores this
        model); the metrics say ``interrupted`` and how many epochs were trained.
        """
        if self.state is None:
            return None
        model = build_model(config)
        model.set_state(self.state)
        metrics = {
            "preset": label,
            "architecture": config.architecture,
            "parameters": model.n_params,
            "epochs_trained": len(self.epochs),
            "train_examples": examples,
            "interrupted": True,
        }
        return model, History(epochs=self.epochs).to_dict(), metrics
