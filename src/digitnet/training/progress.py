"""Progress bars while training, for ``digitnet train`` and the experiments alike."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

from digitnet.nn import Callback

__all__ = ["EpochLines", "ProgressBars"]


class ProgressBars(Callback):
    """A tqdm bar per epoch on stderr showing the running loss and accuracy, then the validation scores."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def on_train_begin(self, epochs, batches_per_epoch):
        self.epochs, self.batches = epochs, batches_per_epoch

    def on_epoch_begin(self, epoch):
        self.loss_sum, self.seen, self.last_refresh = 0.0, 0, 0.0
        width = len(str(self.epochs))
        self.bar = tqdm(
            total=self.batches,
            desc=f"epoch {epoch:>{width}}/{self.epochs}",
            unit="batch",
            file=sys.stderr,
            disable=not self.enabled,
            leave=True,
            dynamic_ncols=True,
            bar_format=(
                "{desc} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
            ),
        )

    def on_batch_end(self, epoch, batch, loss):
        self.loss_sum += loss
        self.seen += 1
        self.bar.update(1)
        now = time.monotonic()
        if self.enabled and now - self.last_refresh > 0.25:
            self.last_refresh = now
            self.bar.set_postfix_str(f"loss {self.loss_sum / self.seen:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs):
        text = f"loss {logs['loss']:.4f}, acc {logs['accuracy']:.2%}"
        if "val_accuracy" in logs:
            text += f", val_loss {logs['val_loss']:.4f}, val_acc {logs['val_accuracy']:.2%}"
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.close()  # draws the bar once more, with the final figures


class EpochLines(Callback):
    """One line per epoch on stdout, as scikit-learn's estimators print it with ``verbose=True``."""

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        extra = f", validation accuracy = {logs['val_accuracy']:.4f}" if "val_accuracy" in logs else ""
        print(f"Iteration {epoch}, loss = {logs['loss']:.8f}{extra}", flush=True)
