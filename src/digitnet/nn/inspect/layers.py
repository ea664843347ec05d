"""Which layer is which: what the report and the drawing page ask of a model before they draw it.

A model is a list of layers; these answer the questions about that list that drawing needs, in one
place: does it read rows of pixels, where are its first hidden layer and its first convolution. "Has
weights" is each layer's own answer (:attr:`Layer.has_weights`: Dense and Conv2D), never guessed from
its parameters (batch normalisation has parameters, and no weights to draw).
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.conv import Conv2D
from digitnet.nn.dense import Dense

__all__ = [
    "PIXELS",
    "first_convolution",
    "first_hidden_layer",
    "first_layer_images",
    "reads_flat_pixels",
]

PIXELS = 784  # D, the pixels of one digit (28x28)


def reads_flat_pixels(model) -> bool:
    """Whether ``model`` takes each digit as one row of the 784 pixels, shape (N, 784).

    Then its first dense layer reads the pixels themselves, one weight per pixel (unless a weighted layer
    comes before it): its neurons can be drawn as 28x28 images and linked to the pixels. A network taking
    images (C, H, W) is not asked whether it is convolutional (``model.is_convolutional``): one may pool
    its images before its first dense layer without any convolution, and that layer then reads fewer
    values than pixels.
    """
    return model.input_shape == (PIXELS,)


def first_hidden_layer(model) -> tuple[int, int] | None:
    """Positions in ``model.layers`` of the first Dense layer and of the next Dense layer.

    None when the model has fewer than two Dense layers (no hidden layer: the inputs feed the outputs),
    or when its first weighted layer is not a Dense layer fed by the 784 pixels (a convolutional network,
    whose first layer is shown by :func:`first_convolution` instead).
    """
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]
    before = model.layers[: dense[0] if dense else 0]
    if not reads_flat_pixels(model) or any(layer.has_weights for layer in before):
        return None
    return (dense[0], dense[1]) if len(dense) >= 2 else None


def first_convolution(model) -> Conv2D | None:
    """The first layer of a convolutional network, or None when the first weighted layer is no Conv2D."""
    weighted = next((layer for layer in model.layers if layer.has_weights), None)
    return weighted if isinstance(weighted, Conv2D) else None


def first_layer_images(model, shown: int = 16) -> np.ndarray | None:
    """The first layer's weights as grey images in [0, 1], 0.5 for a weight of 0: (S, 28, 28) for an MLP's
    first ``shown`` neurons, (S, K, K) for a CNN's first kernels; None for a network with neither."""
    first = next((layer for layer in model.layers if layer.has_weights), None)
    if first is not None and reads_flat_pixels(model) and first.params["W"].shape[0] == PIXELS:
        w = first.params["W"][:, :shown].T.reshape(-1, 28, 28)  # (S, 784) -> (S, 28, 28)
    elif first is not None and first.params["W"].ndim == 4:
        w = first.params["W"][:shown, 0]  # (S, K, K): each kernel's first input channel
    else:
        return None
    scale = float(np.abs(w).max()) or 1.0
    return (0.5 + 0.5 * w / scale).astype(np.float32)
