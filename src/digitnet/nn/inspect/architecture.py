"""A network in one line: the string every front end names a network by."""

from __future__ import annotations

from typing import Any

__all__ = ["architecture_text"]


def architecture_text(config: dict[str, Any]) -> str:
    """A network in one line, from its configuration (:meth:`Sequential.config`, as model files record
    it): ``784-16-16-10``; ``28x28-c6-pool-c16-pool-120-84-10`` for a convolutional one. The input's shape
    (a single channel left out), then each weighted layer's units (``c`` and its filters for a
    convolution) and each pooling, in order; activations, normalisation, dropout and reshaping are not
    named. The one string for a network everywhere: ``digitnet train``'s summary, its presets' list,
    model files' metrics, the report's title."""
    shape = list(config["input_shape"])
    parts = ["x".join(map(str, shape[1:] if len(shape) == 3 and shape[0] == 1 else shape))]
    for layer in config["layers"]:
        if layer["type"] == "Dense":
            parts.append(str(layer["units"]))
        elif layer["type"] == "Conv2D":
            parts.append(f"c{layer['filters']}")
        elif layer["type"] in ("MaxPool2D", "AvgPool2D"):
            parts.append("pool")
    return "-".join(parts)
