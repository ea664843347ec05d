"""Weight initialisers: the distribution each weight of a layer is drawn from at the start, and which
initialiser a layer gets when it is left to choose (:func:`choose_initializers`).

Each takes a generator, the layer's fan-in (inputs per unit) and fan-out (units) and returns
W of shape (fan_in, fan_out) and b of shape (fan_out,). The scale matters: too small and signals
fade layer by layer, too large and sigmoids saturate from the first step.
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.activations import ACTIVATIONS

__all__ = ["DEFAULT_INIT", "INITIALIZERS", "choose_initializers", "initialize"]


def standard_normal(rng, fan_in, fan_out, dtype):
    """W ~ N(0, 1) and b ~ N(0, 1): network.py's choice. Weighted sums then have standard
    deviation about sqrt(fan_in) ≈ 28 for MNIST inputs, so first-layer sigmoids start saturated."""
    w = rng.standard_normal((fan_in, fan_out), dtype=dtype)
    b = rng.standard_normal(fan_out, dtype=dtype)
    return w, b


def lecun(rng, fan_in, fan_out, dtype):
    """W ~ N(0, 1) / sqrt(fan_in), b = 0: weighted sums keep roughly unit variance
    (network2.py's default, LeCun et al. 1998). Good for sigmoid."""
    w = rng.standard_normal((fan_in, fan_out), dtype=dtype)
    w *= dtype(1.0 / np.sqrt(fan_in))
    return w, np.zeros(fan_out, dtype)


def glorot(rng, fan_in, fan_out, dtype):
    """W ~ U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), b = 0: keeps the variance of both the
    forward signal and the backward gradient about constant (Glorot & Bengio 2010). Good for tanh."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    w = rng.uniform(-a, a, (fan_in, fan_out)).astype(dtype)
    return w, np.zeros(fan_out, dtype)


def he(rng, fan_in, fan_out, dtype):
    """W ~ N(0, 2 / fan_in), b = 0: ReLU zeroes half its inputs, so the variance is doubled to keep the
    signal's scale (He et al. 2015). Good for ReLU."""
    w = rng.standard_normal((fan_in, fan_out), dtype=dtype)
    w *= dtype(np.sqrt(2.0 / fan_in))
    return w, np.zeros(fan_out, dtype)


INITIALIZERS = {
    "standard-normal": standard_normal,
    "lecun": lecun,
    "glorot": glorot,
    "he": he,
}
"""Initialiser names, as the CLI and model files spell them, to functions."""

DEFAULT_INIT = {
    "sigmoid": "lecun",
    "tanh": "glorot",
    "relu": "he",
    "identity": "glorot",
    "softmax": "glorot",
}
"""The initialiser a weighted layer (Dense, Conv2D) gets by default, by the activation that follows it."""


def choose_initializers(layers: list) -> None:
    """Give every weighted layer (Dense, Conv2D) that was left to choose (``init=None``) the initialiser
    :data:`DEFAULT_INIT` names for the activation that follows it.

    The activation after layer i is the first activation layer after it, looking past dropout, pooling
    and batch normalisation; "identity" if the next weighted layer or the network's output comes first.
    """
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    for i, layer in enumerate(layers):
        if getattr(layer, "init", "") is not None:  # not weighted, or its initialiser was given
            continue
        following = "identity"
        for later in layers[i + 1 :]:
            if type(later) in names:
                following = names[type(later)]
                break
            if hasattr(later, "init"):
                break
        layer.init = DEFAULT_INIT[following]


def initialize(name: str, rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float32):
    """Draw ``(W, b)`` from the initialiser called ``name``; shapes (fan_in, fan_out) and (fan_out,)."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {name!r}; choose one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name](rng, fan_in, fan_out, np.dtype(dtype).type)
