"""Learning-rate schedules: the step size as a function of training progress.

A schedule maps the epoch position e (a float: 2.5 is half-way through the third epoch) to a
multiplier of the base learning rate, evaluated before every mini-batch.
"""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "Constant", "Cosine", "StepDecay", "make_schedule"]


class Constant:
    """η(e) = η₀."""

    def __call__(self, e: float) -> float:
        return 1.0


class StepDecay:
    """η(e) = η₀ · γ^floor(e / s): multiply by γ every s epochs.

    Defaults γ = 0.1 every third of training, the classic "divide by ten when progress stalls".
    """

    def __init__(self, epochs: int, every: int | None = None, gamma: float = 0.1):
        self.every = every if every is not None else max(1, math.ceil(epochs / 3))
        if self.every < 1:
            raise ValueError(f"step schedule interval must be >= 1 epoch, got {every!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"step schedule gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, e):
        return self.gamma ** math.floor(e / self.every)


class Cosine:
    """η(e) = η₀ · (f + (1 - f) · ½(1 + cos(π e / E))): a smooth decay from η₀ to f·η₀ over E epochs.

    Large steps early explore, small steps late settle into a minimum (Loshchilov & Hutter 2017).
    f = 0 by default.
    """

    def __init__(self, epochs: int, final_fraction: float = 0.0):
        if epochs < 1:
            raise ValueError(f"cosine schedule needs epochs >= 1, got {epochs!r}")
        if not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"cosine final_fraction must be in [0, 1], got {final_fraction!r}")
        self.epochs = int(epochs)
        self.final_fraction = float(final_fraction)

    def __call__(self, e):
        f = self.final_fraction
        return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * min(e / self.epochs, 1.0)))


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine}
"""Schedule names, as the CLI and model files spell them, to their classes."""


def make_schedule(name: str, epochs: int):
    """The schedule called ``name`` with its defaults for a run of ``epochs`` epochs."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    return Constant() if name == "constant" else SCHEDULES[name](epochs)
