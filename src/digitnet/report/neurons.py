"""The first hidden layer's neurons: what each one looks for, which matter most, what excites them.

Shapes use the package's letters: N test digits, D = 784 input pixels, U first-layer units, V units of
the layer after it.

Each first-layer neuron j computes a_j = f(x · W[:, j] + b_j), so its 784 incoming weights W[:, j] seen
as a 28x28 image are the pattern of ink it responds to (red pixels push it up, blue ones down).

Importance. Neuron j adds the vector a_j(x) · W2[j, :] (V,) to the next layer's weighted sums, where W2
(U, V) are the outgoing weights. Its *importance* is the mean length of that contribution over the test
digits::

    importance_j = E_x ‖a_j(x) W2[j, :]‖₂ = ‖W2[j, :]‖₂ · mean_x |a_j(x)|

A neuron that is rarely active (dead ReLU) or whose output the next layer ignores (small outgoing
weights) scores near zero, whatever its incoming weights look like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.nn.inspect import first_hidden_layer

__all__ = ["MAX_SHOWN", "NeuronReport", "analyse_first_layer"]

MAX_SHOWN = 32  # wider layers show only their most important neurons: 32 pictures still read at a glance
TOP_K = 6  # test digits shown per neuron


@dataclass
class NeuronReport:
    """What :func:`analyse_first_layer` finds.

    Attributes
    ----------
    units : int
        U, the width of the first hidden layer.
    weights : ndarray
        Incoming weights W (784, U).
    importance : ndarray
        (U,), see the module docstring.
    mean_activation : ndarray
        mean_x |a_j(x)| over the test digits, (U,).
    outgoing_norm : ndarray
        ‖W2[j, :]‖₂, (U,).
    shown : ndarray
        Indices of the neurons shown, most important first, at most ``MAX_SHOWN``.
    top_indices, top_activations : ndarray
        For each shown neuron, the test digits with the largest activation a_j(x) and those values,
        (S, K), largest first.
    """

    units: int
    weights: np.ndarray
    importance: np.ndarray
    mean_activation: np.ndarray
    outgoing_norm: np.ndarray
    shown: np.ndarray
    top_indices: np.ndarray
    top_activations: np.ndarray


def hidden_activations(model, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """a(x) of the first hidden layer: every layer before the second Dense, at inference.

    Shape: x (N, 784) -> (N, U).
    """
    where = first_hidden_layer(model)
    if where is None:
        raise ValueError("this model has no hidden layer, so it has no hidden activations")
    x = model.as_input(x)
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    # Dense, activation (and dropout: identity at inference): the layers before the second Dense
    parts = [model.layer_outputs(batch, upto=where[1])[-1] for batch in batches]  # (n, U) each
    return np.concatenate(parts)  # (N, U)


def analyse_first_layer(
    model, x: np.ndarray, *, max_shown: int = MAX_SHOWN, top_k: int = TOP_K
) -> NeuronReport | None:
    """Importance of every first-layer neuron on ``x`` and the digits that excite the shown ones most.

    A layer of at most ``max_shown`` units shows them all; a wider one the ``max_shown`` most important.
    Returns None for a model without a hidden layer.

    Shape: x (N, 784).
    """
    where = first_hidden_layer(model)
    if where is None:
        return None
    w = model.layers[where[0]].params["W"]  # (D, U)
    w_out = model.layers[where[1]].params["W"]  # (U, V)
    a = hidden_activations(model, x)  # (N, U)
    mean_activation = np.abs(a).mean(axis=0, dtype=np.float64)  # (U,)
    outgoing_norm = np.linalg.norm(w_out.astype(np.float64), axis=1)  # (U,)
    importance = outgoing_norm * mean_activation  # (U,)
    units = w.shape[1]
    shown = np.argsort(-importance, kind="stable")[: min(units, max_shown)]  # (S,), most important first
    k = min(top_k, len(a))
    top = np.argsort(-a[:, shown], axis=0, kind="stable")[:k].T  # (S, K) test indices, largest first
    top_values = np.take_along_axis(a[:, shown].T, top, axis=1)  # (S, K)
    return NeuronReport(units, w, importance, mean_activation, outgoing_norm, shown, top, top_values)
