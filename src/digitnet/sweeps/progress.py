"""The progress bar over a sweep's runs: done (of all), running, failed, and the time left."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

__all__ = ["SweepProgress"]


class SweepProgress:
    """A tqdm bar on stderr counting finished runs; runs done before this sweep started count at once."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def start(self, total: int, done: int) -> None:
        self.bar = tqdm(
            total=total,
            initial=done,
            desc="sweep",
            unit="run",
            file=sys.stderr,
            disable=not self.enabled,
            dynamic_ncols=True,
            bar_format=(
                "{desc} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} runs "
                "[{elapsed}<{remaining}{postfix}]"
            ),
        )
        self.done = done

    def update(self, done: int, running: int, failed: int) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix_str(f"{running} running, {failed} failed", refresh=False)
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
