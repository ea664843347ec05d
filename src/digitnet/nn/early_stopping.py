"""Early stopping: keep the weights of the epoch with the lowest validation loss, stop when it is old."""

from __future__ import annotations

import math

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Watches each epoch's validation loss.

    ``patience`` epochs in a row without a loss below the best so far stop training (None: never), and
    :meth:`restore` then puts back the parameters of the best epoch, so a model that stopped early is
    the best one it was, not the last.
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best_loss, self.best_epoch, self.bad_epochs = math.inf, None, 0
        self.best_params = None  # a copy of the flat parameter array (P,), kept only with a patience

    def should_stop(self, epoch: int, val_loss: float, parameters) -> bool:
        """Record epoch ``epoch``'s validation loss; True when training should stop now."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            if self.patience is not None:
                self.best_params = parameters.values.copy()
            return False
        self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore(self, parameters) -> None:
        """Put the best epoch's parameters back in place."""
        parameters.values[...] = self.best_params
