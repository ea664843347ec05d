"""Finite answers or one clear error: a trained network's values are finite; NaN or infinity means weights
too large for float32 (a damaged or crafted model file), and an answer read from them would mean nothing."""

from __future__ import annotations

import numpy as np

from digitnet.errors import NonFiniteOutputError

__all__ = ["finite_layer_outputs", "finite_outputs"]


def finite_outputs(out: np.ndarray) -> np.ndarray:
    """``out`` itself if every output is finite, else :class:`~digitnet.errors.NonFiniteOutputError`.

    A trained network's outputs are finite; NaN or infinity means weights too large for float32 (a
    damaged or crafted model file), and an answer read from them would be meaningless.
    """
    if not np.isfinite(out).all():
        raise NonFiniteOutputError(
            "the network's outputs are NaN or infinite: its weights are too large for float32, so its "
            "answers would mean nothing; the model file was damaged or edited: retrain or restore it"
        )
    return out


def finite_layer_outputs(model, outputs: list[np.ndarray]) -> list[np.ndarray]:
    """``outputs`` (``model.layer_outputs(x)``) if every layer's values are finite, else
    :class:`~digitnet.errors.NonFiniteOutputError` naming the first layer that overflowed.

    A sigmoid or tanh after an overflowing layer gives finite answers from infinite values; whoever shows
    the hidden values too (the API, the page) needs them all finite.
    """
    for index, (layer, out) in enumerate(zip(model.layers, outputs)):
        if not np.isfinite(out).all():
            raise NonFiniteOutputError(
                f"layer {index} ({layer.describe()}) gives NaN or infinite values for this digit: its "
                "weights are too large for float32, so the network's answers would mean nothing; the model "
                "file was damaged or edited: retrain or restore it"
            )
    return outputs
