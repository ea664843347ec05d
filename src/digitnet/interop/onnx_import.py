"""An ONNX graph as a digitnet model: the chain of operators digitnet has, read node by node.

The graph must be one chain from its one input to its one output, each node taking the previous node's
output and constant weights (initializers or ``Constant`` nodes). Each node becomes a layer:

==========================  ==============================================================
ONNX node                   digitnet layer
==========================  ==============================================================
Gemm (alpha = beta = 1)     Dense, W = B (or Bᵀ with transB = 1, as PyTorch's Linear exports)
MatMul, then Add            Dense, W = B, b from the Add (0 without one)
Conv (group 1, dilation 1)  Conv2D: square kernel, equal strides, the same padding on every side
MaxPool, AveragePool        MaxPool2D, AvgPool2D: square windows, no padding, ceil_mode 0
BatchNormalization          BatchNorm with the graph's statistics and epsilon
Flatten (axis 1), Reshape   Flatten, for a Reshape to (N, -1) or (N, D)
Relu, Sigmoid, Tanh         ReLU, Sigmoid, Tanh
Softmax, LogSoftmax         the cross-entropy cost's probabilities when last, else Softmax
Identity, Dropout           nothing: both are the identity at inference
GlobalAveragePool           AvgPool2D over the whole (square) map; ReduceMean over H, W too
Sub, Div, Mul, Add          input scaling before the first layer, folded into it
Transpose                   a channels-last network's layout (see :mod:`~digitnet.interop.onnx_chain`)
==========================  ==============================================================

A graph that does not read as such a chain is first rewritten by ONNX Runtime's basic optimisations,
which fold away what exporters wrap around a network (``Cast``, the dynamic flatten, constant subgraphs,
a convolution's bias as an ``Add``; see :mod:`~digitnet.interop.onnx_normalise`), then read again.
Anything else is refused with :class:`~digitnet.errors.ModelFileError` naming the operator and the node.
A file that digitnet exported carries its architecture in its metadata; the layers read from the graph are
checked against it and the recorded layers are kept (so Dropout, initialiser names and the cost come back),
which makes export then import give the very same model.

Shape
-----
The graph's input (N, *S) with every dimension of S fixed gives the model's ``input_shape`` S.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.errors import ModelFileError, NonFiniteOutputError
from digitnet.extras import require
from digitnet.files import file_problem
from digitnet.interop.onnx_chain import read_chain
from digitnet.interop.onnx_checks import MAX_ONNX_BYTES, check_declared, check_external
from digitnet.interop.onnx_graph import SUPPORTED_OPS, Graph
from digitnet.interop.onnx_normalise import normalised, sorted_nodes
from digitnet.modelfile import content_digest
from digitnet.nn import Sequential

__all__ = ["SUPPORTED_OPS", "ImportedModel", "import_onnx"]


class ImportedModel:
    """What :func:`import_onnx` read: the model, its parameters by name, and the file's own records."""

    def __init__(self, model: Sequential, training: dict[str, Any], metrics: dict[str, Any]):
        self.model, self.training, self.metrics = model, training, metrics


def _input_shape(g: Graph) -> tuple[str, tuple[int, ...]]:
    weights = set(g.constants)
    inputs = [i for i in g.graph.input if i.name not in weights]
    if len(inputs) != 1 or len(g.graph.output) != 1:
        raise ModelFileError(
            f"{g.path}: the graph has {len(inputs)} inputs and {len(g.graph.output)} outputs; digitnet "
            "reads networks with one input (the digits) and one output (the class scores)"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(shape) < 2 or None in shape[1:]:
        raise ModelFileError(
            f"{g.path}: input {inputs[0].name!r} has shape {shape}; digitnet needs (N, ...) with every "
            "dimension after the batch fixed, e.g. (N, 784) or (N, 1, 28, 28)"
        )
    return inputs[0].name, tuple(shape[1:])


def import_onnx(path: str | os.PathLike, input_range: tuple[float, float] | None = None) -> ImportedModel:
    """Read the ONNX file at ``path`` as a digitnet model (see the module's table).

    ``input_range`` (low, high): what the graph's input is where digitnet's pixels are 0 and 1: (0, 255)
    for a network that takes bytes. None: (0, 1), or (0, 255) for a graph that divides its input by 255
    itself. It and the graph's own scaling (``Sub``, ``Div``, ``Mul``, ``Add`` before the first layer) are
    folded into the first layer, and the model's metrics record it as ``input_range``.

    Raises
    ------
    MissingExtraError
        The ``onnx`` package is not installed.
    ModelFileError
        The file is not ONNX, or its graph holds an operator, an attribute or a shape digitnet does not
        have; the message names the node.
    """
    onnx = require("onnx", "onnx", "ONNX import")
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise ModelFileError(
            f"{path}: no such ONNX file" if problem == "does not exist" else f"{path} {problem}"
        )
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise ModelFileError(
            f"{path} holds {size:,} bytes; digitnet reads ONNX files of at most {MAX_ONNX_BYTES:,} (its "
            "largest network, 784-800-800-10, is 5 MB): a network this size is not one digitnet trains"
        )
    try:
        # external data only once checked: its paths could name files outside the folder, a FIFO, /dev/zero
        proto = onnx.load(str(path), load_external_data=False)
        check_external(path, proto)
        check_declared(path, proto)  # every size and value, before anything is allocated
        sorted_nodes(path, proto)  # some exporters write nodes out of order; the checker wants them sorted
        onnx.checker.check_model(proto)
    except ModelFileError:
        raise
    except Exception as exc:  # onnx raises DecodeError, ValidationError or its own types for bad files
        raise ModelFileError(f"{path}: not a valid ONNX model: {str(exc).splitlines()[0][:300]}") from None
    try:
        layers, states, cost, input_shape, used = _read(path, proto, input_range)
    except ModelFileError:
        simpler = normalised(path, proto)  # the exporters' wrappers folded away, if that is what stopped it
        if simpler is None:
            raise
        layers, states, cost, input_shape, used = _read(path, simpler, input_range)  # what is left to refuse
    if not layers:
        raise ModelFileError(f"{path}: the graph computes nothing digitnet can learn from (no layers)")
    props = {p.key: p.value for p in proto.metadata_props}
    recorded = _recorded(props)
    try:
        model = _built(layers, states, cost, input_shape, recorded.get("architecture"))
    except ValueError as exc:
        raise ModelFileError(f"{path}: the graph's layers do not fit together: {exc}") from None
    _check_answers(path, model)
    if props.get("digitnet.weights_sha256") != content_digest({}, model.named_state()):
        metrics = {} if used == (0.0, 1.0) else {"input_range": f"{used[0]:g},{used[1]:g}"}
        return ImportedModel(model, {}, metrics)  # records that describe other weights (or none) are dropped
    return ImportedModel(model, recorded.get("training", {}), recorded.get("metrics", {}))


def _read(path: Path, proto, input_range: tuple[float, float] | None):
    """(layers, states, cost, input shape, input range) of the graph's chain, its input range folded in."""
    g = Graph(path, proto)
    start, input_shape = _input_shape(g)
    try:
        return read_chain(g, start, input_shape, input_range)
    except ValueError as exc:  # a layer built on a shape it cannot take
        raise ModelFileError(f"{path}: the graph's layers do not fit together: {exc}") from None


def _recorded(props: dict[str, str]) -> dict[str, Any]:
    """The digitnet records in an exported file's metadata, each a JSON object (unreadable ones left out)."""
    out = {}
    for key in ("architecture", "training", "metrics"):
        try:
            value = json.loads(props.get(f"digitnet.{key}", "null"))
        except (ValueError, RecursionError):  # nested too deep to be anything digitnet wrote
            continue
        if isinstance(value, dict):
            out[key] = value
    return out


def _check_answers(path: Path, model: Sequential) -> None:
    """Refuse a network whose outputs for a blank and for an all-ink image are not finite: finite weights
    too large for float32 (a flipped exponent bit makes a weight 1e37) would be imported only to fail at
    every prediction."""
    for value in (0.0, 1.0):
        try:
            model.infer(np.full((1, *model.input_shape), value, model.dtype))
        except NonFiniteOutputError:
            image = "blank" if value == 0 else "fully inked"
            raise ModelFileError(
                f"{path}: the network's outputs for a {image} image are NaN or infinite: its weights are "
                "too large for float32, so its answers would mean nothing"
            ) from None


def _built(layers, states, cost, input_shape, recorded: dict[str, Any] | None) -> Sequential:
    """The model, with the recorded architecture's layers where it matches the graph's."""
    model = Sequential(layers, cost=cost, input_shape=input_shape)
    named = {f"layers.{i}.{k}": v for i, s in enumerate(states) for k, v in s.items()}
    model.set_state({k: np.asarray(v, dtype=np.float32) for k, v in named.items()})
    if recorded is None:
        return model
    try:
        original = Sequential.from_config(recorded)
    except (KeyError, TypeError, ValueError):
        return model
    kept = [layer for layer in original.layers if type(layer).__name__ not in ("Identity", "Dropout")]
    same = [type(a) is type(b) and a.output_shape == b.output_shape for a, b in zip(kept, model.layers)]
    if len(kept) != len(model.layers) or not all(same) or original.input_shape != model.input_shape:
        return model
    for mine, theirs in zip(kept, model.layers):
        for k, v in theirs.params.items():
            mine.params[k][...] = v
        for k, v in theirs.buffers.items():
            mine.buffers[k][...] = v
    return original
