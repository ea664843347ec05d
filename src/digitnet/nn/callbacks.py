"""What training reports: :class:`Callback` hooks into the loop, :class:`History` records each epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Callback", "History"]


@dataclass
class History:
    """What happened during training, one dict per epoch.

    Each epoch's dict has ``epoch`` (from 1), ``loss`` and ``accuracy`` (running averages over the
    epoch's mini-batches, with dropout active), ``lr`` (at the epoch's start), ``seconds``, and, when
    validation data was given, ``val_loss`` and ``val_accuracy``. ``history["val_accuracy"]`` gives a
    list over epochs.
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }


class Callback:
    """Hooks into the training loop; override what you need. ``digitnet train``'s progress bars are one.

    ``fit`` sets ``self.model`` before ``on_train_begin``, so a hook can read the parameters and their
    gradients (``model.parameters.arrays``) after every batch. Read them afresh in each hook rather than
    keeping the arrays: with ``workers > 1`` training packs the parameters into shared memory after
    ``on_train_begin``.
    """

    model = None

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_end(self, epoch: int, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, history: History) -> None: ...
