"""The networks digitnet trains, as layers: from a description (hidden sizes, stages, activation, ...) to
the list of layers, built by nothing yet (no weight is allocated until ``Sequential`` builds them).
"""

from __future__ import annotations

import math

from digitnet.nn import ACTIVATIONS, Dense, Dropout, Layer
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.conv import Conv2D
from digitnet.nn.pooling import MaxPool2D
from digitnet.nn.reshape import Flatten

__all__ = ["image_side", "network_layers"]


def image_side(features: int, stages: int) -> int:
    """The side of the square image a convolutional network of ``stages`` stages reads ``features`` as:
    the smallest with side² >= features (the features row by row, zeros after them), and at least 2^stages,
    so that each stage's 2x2 pooling leaves a pixel. 784 -> 28, 64 -> 8, 20 -> 5; 2 features, 2 stages -> 4.
    """
    side = math.isqrt(features - 1) + 1 if features > 1 else 1
    return max(side, 2**stages)


def network_layers(
    *,
    hidden: tuple[int, ...],
    activation: str,
    classes: int = 10,
    conv: tuple[tuple[int, ...], ...] = (),
    kernel_size: int = 5,
    batch_norm: bool = False,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    init: str | None = None,
    output: str = "identity",
) -> list[Layer]:
    """The layers of the networks digitnet trains, from their description.

    An MLP is input → hidden layers (each Dense, ``activation``, optional dropout) → ``classes`` outputs,
    then the ``output`` activation (none for "identity"). With ``conv`` the image first passes through
    convolutional stages (each "same"-padded Conv2D followed by the activation, then 2x2 max-pooling),
    is flattened, and continues into the dense layers. A stage's last ReLU comes after its pooling:
    ReLU is non-decreasing, so relu(max(z)) = max(relu(z)) for every window, ties included, and the
    gradient reaches the same input (the window's first maximum, times ReLU's derivative there), bit for
    bit; it is 4 times fewer values to rectify. With ``batch_norm``, BatchNorm sits between every
    convolution or hidden dense layer and its activation. ``input_dropout`` drops input pixels.
    """
    act = ACTIVATIONS[activation]
    layers: list[Layer] = [Dropout(input_dropout)] if input_dropout else []

    def weighted(layer):  # a convolution or hidden dense layer, its normalisation, its activation
        return [layer, *([BatchNorm()] if batch_norm else []), act()]

    for stage in conv:
        for filters in stage:
            layers += weighted(Conv2D(filters, kernel_size, padding=kernel_size // 2, init=init))
        if activation == "relu":  # pool first: relu(max(z)) = max(relu(z)), on a quarter of the values
            layers[-1:] = [MaxPool2D(2), layers[-1]]
        else:
            layers.append(MaxPool2D(2))
    if conv:
        layers.append(Flatten())  # (N, F, H, W) -> (N, F·H·W)
    for units in hidden:
        layers += weighted(Dense(units, init=init))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(classes, init=init))
    if output != "identity":
        layers.append(ACTIVATIONS[output]())
    return layers
