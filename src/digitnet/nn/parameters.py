"""``Parameters``: every trainable number of a network in one flat array, every gradient in another.

Each layer keeps its ``params`` and ``grads`` dicts, but their entries are reshaped views into the two
flat arrays, so the layers' maths reads as usual (``self.params["W"]`` is a (D, U) matrix) while the
training loop adds L2, checks for NaN and lets the optimiser update everything with a few whole-array
operations per batch instead of a few per array: at batch 10 Python's cost per call outweighs the
arithmetic.

The weights that L2 decays come first, so that they are one slice of each flat array: ``weights`` and
``weight_grads``. Biases, batch normalisation's γ and β follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digitnet.nn.layer import Layer

__all__ = ["Parameters", "copy_by_name"]


class Parameters:
    """The trainable arrays of ``layers`` packed into ``values`` (P,) and their gradients into ``grads`` (P,).

    A model holds one as its ``parameters`` attribute (an object, not a method as in PyTorch's
    ``Module.parameters()``): ``net.parameters.values``, ``net.parameters.arrays["layers.0.W"]``.

    Parameters
    ----------
    layers : sequence of Layer
        Built layers. Their ``params`` and ``grads`` entries become views of ``values`` and ``grads``.
    values, grads : ndarray (P,) or None
        The flat arrays to pack into, e.g. shared memory that worker processes also map
        (:mod:`digitnet.nn.parallel`); None allocates new ones.
    copy : bool
        Copy each layer's current values into ``values`` (default). False keeps what ``values`` holds
        already: a worker process adopts the weights of the training process this way.

    Attributes
    ----------
    values, grads : ndarray (P,)
        Every parameter, every gradient; the decayed weights first.
    weights, weight_grads : ndarray (P_w,)
        The slices that L2 weight decay applies to: ``values[:P_w]`` and ``grads[:P_w]``.
    arrays : dict of str to (ndarray, ndarray)
        Each layer's views by name, ``"layers.{i}.{key}"`` in layer order: (the parameter, its gradient),
        e.g. ``arrays["layers.0.W"]`` is (W, dL/dW), both (D, U) for a first Dense layer.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        values: np.ndarray | None = None,
        grads: np.ndarray | None = None,
        *,
        copy: bool = True,
    ):
        if not copy and values is None:
            raise ValueError("copy=False keeps the values already in `values`: give that array")
        entries = [(i, layer, k) for i, layer in enumerate(layers) for k in layer.params]
        entries.sort(key=lambda e: e[2] not in e[1].decayed)  # stable: decayed first, then layer order
        dtype = entries[0][1].params[entries[0][2]].dtype if entries else np.dtype(np.float32)
        total = sum(layer.params[k].size for _, layer, k in entries)
        for given in (values, grads):
            if given is not None and (given.shape != (total,) or given.dtype != dtype):
                raise ValueError(f"expected a ({total},) {dtype} array, got {given.shape} {given.dtype}")
        self.values = np.empty(total, dtype) if values is None else values  # (P,)
        self.grads = np.zeros(total, dtype) if grads is None else grads  # (P,)
        n_decayed, start = 0, 0
        for _, layer, k in entries:
            p = layer.params[k]
            view = self.values[start : start + p.size]
            if copy:
                view[...] = p.ravel()
            layer.params[k] = view.reshape(p.shape)
            layer.grads[k] = self.grads[start : start + p.size].reshape(p.shape)
            start += p.size
            if k in layer.decayed:
                n_decayed = start
        self.weights, self.weight_grads = self.values[:n_decayed], self.grads[:n_decayed]  # (P_w,)
        self.arrays = {
            f"layers.{i}.{k}": (layer.params[k], layer.grads[k])
            for i, layer in enumerate(layers)
            for k in layer.params
        }

    def __len__(self) -> int:
        """P, the number of trainable numbers."""
        return self.values.size

    def l2_penalty(self, l2: float) -> float:
        """(λ/2) Σ ‖W‖² over the decayed weights."""
        return 0.5 * l2 * float(np.vdot(self.weights, self.weights))


def copy_by_name(own: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> None:
    """Copy ``arrays[name]`` into ``own[name]`` for every name; ``ValueError`` unless the names and each
    array's shape match exactly (a model file's arrays against the architecture, say)."""
    if set(arrays) != set(own):
        missing, extra = sorted(set(own) - set(arrays)), sorted(set(arrays) - set(own))
        raise ValueError(
            f"parameter names do not match the architecture: missing {missing}, unexpected {extra}"
        )
    for name, p in own.items():
        if arrays[name].shape != p.shape:
            raise ValueError(
                f"parameter {name} has shape {arrays[name].shape}, the architecture needs {p.shape}"
            )
        p[...] = arrays[name]
