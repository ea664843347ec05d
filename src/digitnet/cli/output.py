"""What the commands print: plain tables, percentages, JSON, and the training progress bars."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from digitnet.nn import Callback

__all__ = ["ProgressBars", "format_table", "percent", "print_json", "printable"]


def printable(text: Any) -> str:
    """``str(text)`` with control characters written as escapes (``\\x1b``, ``\\r``): text from a model
    file reaches the terminal as text, never as a command that clears it or sets its title."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column (default: text left, numbers right).
    Every cell goes through :func:`printable`."""
    cells = [[printable(c) for c in row] for row in rows]
    if align is None:
        align = "".join(
            ">" if rows and isinstance(rows[0][i], (int, float)) or (cells and _numeric(cells[0][i])) else "<"
            for i in range(len(headers))
        )
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    lines = [fmt.format(*headers), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*r) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("%", "").replace("-", "").strip().isdigit()


def percent(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def print_json(obj: Any) -> None:
    """One JSON object on stdout (NaN and infinity written as null)."""
    print(json.dumps(_finite(obj), indent=None))


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


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
            total=self.batches, desc=f"epoch {epoch:>{width}}/{self.epochs}", unit="batch",
            file=sys.stderr, disable=not self.enabled, leave=True, dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
        )  # fmt: skip

    def on_batch_end(self, epoch, batch, loss):
        self.loss_sum += loss
        self.seen += 1
        self.bar.update(1)
        now = time.monotonic()
        if self.enabled and now - self.last_refresh > 0.25:
            self.last_refresh = now
            self.bar.set_postfix_str(f"loss {self.loss_sum / self.seen:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs):
        text = f"loss {logs['loss']:.4f}, acc {percent(logs['accuracy'])}"
        if "val_accuracy" in logs:
            text += f", val_loss {logs['val_loss']:.4f}, val_acc {percent(logs['val_accuracy'])}"
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.close()  # draws the bar once more, with the final figures
