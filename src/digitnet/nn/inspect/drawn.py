"""The network as the drawing page shows it for one digit: a few neurons per layer and their strongest links.

Shapes use the package's letters: D = 784 input pixels, U units of a dense layer, C channels, H, W the
size of a feature map, S neurons drawn in the column before, T neurons drawn in this column.

The page draws the input, then one column per dense layer: its neurons after the activation that follows
it. A hidden column shows its :data:`SHOWN` most active neurons for this digit; the last column (the
classes) shows all. Into each drawn neuron t run its :data:`LINKS` strongest connections from the drawn
neurons s of the column before, measured as the contribution of s's activation a_s through the weight
w_st::

    c_st = a_s · w_st

Only contributions that push t up (c_st > 0) are drawn. A convolutional network's first dense layer reads
feature maps, not pixels, so nothing links the image to it; nor, to be safe, for any network that takes
images (C, H, W) rather than rows of pixels (:func:`~digitnet.nn.inspect.reads_flat_pixels`).

The report draws one test digit through the network with this same choice (its ``network`` figure,
:func:`digitnet.report.figures.network_figure`). Its first-layer figures (:mod:`digitnet.report.neurons`)
choose neurons otherwise: by their importance over the whole test set, not by activation for one digit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from digitnet.nn.dropout import Dropout
from digitnet.nn.inspect.layers import reads_flat_pixels
from digitnet.nn.rescaling import Rescaling

__all__ = ["LINKS", "SHOWN", "Link", "drawn_network"]

SHOWN = 16
"""Hidden neurons drawn per layer on the page: the most active ones."""

LINKS = 4
"""Strongest incoming connections drawn into each shown neuron."""


class Link(NamedTuple):
    """One drawn connection: neuron ``source`` of column ``source_column`` into ``target`` of the next."""

    source_column: int
    source: int
    target_column: int
    target: int
    contribution: float
    """c_st = a_s · w_st, above 0."""


def drawn_network(
    model, outputs: list[np.ndarray], x: np.ndarray
) -> tuple[list[dict[str, Any]], list[Link], list[dict[str, Any]]]:
    """What the page draws of ``model`` reading ``x``: the neurons of each column and the links into them.

    Parameters
    ----------
    model : Sequential
        The network.
    outputs : list of ndarray
        ``model.layer_outputs(x)``: every layer's output for the one digit.
    x : ndarray
        The digit's pixels, one row.

    Returns
    -------
    network : list of dict
        One per column: ``{"size": D}`` for the input (every pixel is drawn), then for each dense layer
        ``{"size": U, "shown": ndarray of int}``, the neurons drawn in increasing order.
    connections : list of Link
        Column by column, target by target: the at most :data:`LINKS` strongest positive contributions.
    activations : list of dict
        Every layer's output but dropout's and flattening's (they change no value):
        ``{"index": i, "layer": description, "values": (U,)}``, or for feature maps
        ``{"index": i, "layer": ..., "shape": [C, H, W], "values": (C,) each channel's mean}``. The
        activations drawn as a column's neurons also hold ``"column": True``.

    Shape
    -----
    outputs[i]: (1, *model.layers[i].output_shape); x: (1, D).
    """
    layers, previous = model.layers, model.as_input(x)  # (1, D), or (1, 1, 28, 28) for a convolutional one
    activations = []
    columns = [{"shown": np.arange(x.shape[1])}]  # the input: every pixel
    with np.errstate(over="ignore", invalid="ignore"):  # a crafted model's hidden layers may overflow
        for i, (layer, h) in enumerate(zip(layers, outputs)):
            inputs, previous = previous, h
            if isinstance(layer, (Dropout, Rescaling)) or h.ndim == 2 and inputs.ndim > 2:
                continue  # dropout is the identity here; the input's own scale and flattening are no neurons
            if h.ndim > 2:  # feature maps (1, C, H, W): each channel's mean, not every pixel
                activations.append(
                    {
                        "index": i,
                        "layer": layer.describe(),
                        "shape": list(h.shape[1:]),
                        "values": h[0].mean(axis=(1, 2)),
                    }
                )
                continue
            entry = {"index": i, "layer": layer.describe(), "values": h[0]}
            activations.append(entry)
            last = i == len(layers) - 1 or all(not lay.has_weights for lay in layers[i + 1 :])
            if layer.has_weights:  # a dense layer starts a column, drawn as the activation after it
                if len(columns) > 1 and columns[-1]["values"] is None:  # two dense layers in a row:
                    _show(columns[-1], inputs[0], columns[-1]["own"], last=False)  # the first drawn as it is
                columns.append(
                    {"values": None, "shown": None, "inputs": inputs[0], "W": layer.params["W"], "own": entry}
                )
            else:
                _show(columns[-1], h[0], entry, last)
    if columns[-1]["values"] is None:  # logits out: no activation layer after the last dense one
        columns[-1]["values"], columns[-1]["shown"] = outputs[-1][0], np.arange(outputs[-1].shape[1])
    for column in columns[1:]:
        if "entry" in column:
            column["entry"]["column"] = True  # the activations the page draws as this column's neurons
    first = 1 if reads_flat_pixels(model) else 2  # a network reading images: no links from the image
    connections = [link for k in range(first, len(columns)) for link in _links(columns[k - 1], columns[k], k)]
    network = [{"size": int(x.shape[1])}]  # the input: every pixel is drawn
    network += [{"size": int(len(c["values"])), "shown": c["shown"]} for c in columns[1:]]
    return network, connections, activations


def _show(column: dict[str, Any], values: np.ndarray, entry: dict[str, Any], last: bool) -> None:
    """Draw ``column`` with these ``values`` (U,): every neuron for the classes, else the most active."""
    top = min(SHOWN, len(values))
    column["values"], column["entry"] = values, entry
    column["shown"] = np.arange(len(values)) if last else np.sort(np.argpartition(-values, top - 1)[:top])


def _links(source: dict[str, Any], target: dict[str, Any], k: int) -> list[Link]:
    """The strongest positive contributions into each drawn neuron of column ``k`` from column ``k - 1``."""
    source_shown = source["shown"]  # (S,)
    a = target["inputs"][source_shown]  # (S,) activations of the drawn neurons before
    contributions = a[:, None] * target["W"][np.ix_(source_shown, target["shown"])]  # (S, T): a_s · w_st
    count = min(LINKS, len(source_shown))
    strongest = np.argpartition(-contributions, count - 1, axis=0)[:count]  # (count, T): the largest rows
    return [
        Link(k - 1, int(source_shown[j]), k, int(to), float(contributions[j, t]))
        for t, to in enumerate(target["shown"])
        for j in strongest[:, t]
        if contributions[j, t] > 0
    ]
