"""The contract every layer keeps, and the table that maps layer names to classes.

A layer is a function of its input and its parameters with a hand-written derivative:

* ``build(input_shape, rng)`` creates the parameters for one example's ``input_shape`` (no batch axis)
  and returns the output shape;
* ``forward(x, training, rng)`` computes the output and caches exactly what ``backward`` needs;
* ``backward(grad_out, need_input_grad=True)`` receives dL/d(output) and returns dL/d(input), storing
  dL/d(parameter) in ``grads`` beside ``params``. While training, the model passes
  ``need_input_grad=False`` to the lowest layer with parameters, which then skips dL/d(input) and
  returns None, since nothing below it learns (every layer takes the argument).

``config()`` returns the JSON-able arguments that rebuild the layer, so a model file names its layers
by these table entries and never needs to run code to load.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

__all__ = ["LAYERS", "Layer", "register_layer"]

LAYERS: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` buildable by its class name from a model file."""
    LAYERS[cls.__name__] = cls
    return cls


class Layer:
    """Base class: a layer with no parameters that passes its input through unchanged.

    Attributes
    ----------
    params : dict of str to ndarray
        The trainable arrays, updated in place by the optimiser.
    grads : dict of str to ndarray
        dL/d(param) for each entry of ``params``, same shapes, filled by ``backward``.
    buffers : dict of str to ndarray
        State that is saved with the model but not trained by gradients, such as batch
        normalisation's running statistics.
    decayed : tuple of str
        Names of the parameters that L2 weight decay applies to (weights, not biases).
    has_weights : bool
        Whether the layer connects its inputs to its outputs through weights ``params["W"]`` (Dense,
        Conv2D): what the report and the drawing page draw as connections. Batch normalisation has
        parameters, but no weights.
    """

    decayed: ClassVar[tuple[str, ...]] = ()
    has_weights: ClassVar[bool] = False  # a weight matrix or kernel W that maps its inputs (Dense, Conv2D)

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> tuple[int, ...]:
        """Create parameters for inputs of shape ``(N, *input_shape)``; return the output shape."""
        self.input_shape = self.output_shape = tuple(input_shape)
        return self.output_shape

    def state_shapes(
        self, input_shape: tuple[int, ...]
    ) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]]]:
        """The output shape and the shape of every parameter and buffer that ``build(input_shape)``
        would create, computed without allocating anything (model files are checked against it).

        Raises ValueError, as ``build`` does, for an ``input_shape`` the layer cannot take.
        """
        return tuple(input_shape), {}

    def forward(
        self, x: np.ndarray, *, training: bool = False, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/d(input) from dL/d(output), filling ``grads``; None when ``need_input_grad`` is false."""
        return grad_out if need_input_grad else None

    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this layer (JSON-able)."""
        return {}

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def describe(self) -> str:
        """One line for summaries, e.g. ``Dense(16, init='lecun')``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __repr__(self) -> str:
        return self.describe()
