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
==========================  ==============================================================

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

from digitnet.errors import ModelFileError
from digitnet.files import file_problem
from digitnet.interop.extras import require
from digitnet.interop.onnx_checks import MAX_ONNX_BYTES, check_declared, check_external
from digitnet.modelfile import content_digest
from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

__all__ = ["SUPPORTED_OPS", "ImportedModel", "import_onnx"]

_ACTIVATIONS = {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}
_SKIPPED = ("Identity", "Dropout")
SUPPORTED_OPS = (
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "MaxPool",
    "AveragePool",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    *_ACTIVATIONS,
    "Softmax",
    "LogSoftmax",
    *_SKIPPED,
    "Constant",
)


class ImportedModel:
    """What :func:`import_onnx` read: the model, its parameters by name, and the file's own records."""

    def __init__(self, model: Sequential, training: dict[str, Any], metrics: dict[str, Any]):
        self.model, self.training, self.metrics = model, training, metrics


class _Graph:
    """The nodes of one ONNX graph and its constants, walked as a chain."""

    def __init__(self, path: Path, proto):
        from onnx import numpy_helper

        self.path = path
        self.graph = proto.graph
        self.constants = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant":
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is None:
                    raise self.refuse(node, "a Constant without a tensor `value`")
                self.constants[node.output[0]] = numpy_helper.to_array(value.t)
            elif node.op_type == "Identity" and node.input[0] in self.constants:  # PyTorch copies weights so
                self.constants[node.output[0]] = self.constants[node.input[0]]
        self.nodes = [n for n in self.graph.node if n.output[0] not in self.constants]  # the chain's nodes

    def refuse(self, node, why: str) -> ModelFileError:
        where = f"node {node.name!r} ({node.op_type})" if node.name else f"a {node.op_type} node"
        return ModelFileError(f"{self.path}: {where}: {why}")

    def weight(self, node, index: int) -> np.ndarray | None:
        """Input ``index`` of ``node`` as a constant array (None when the node has no such input)."""
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name not in self.constants:
            raise self.refuse(node, f"input {name!r} is computed, not a constant: digitnet reads chains only")
        return self.constants[name]


def _matrix(g: _Graph, node, w: np.ndarray | None) -> np.ndarray:
    """A dense layer's constant weight matrix (D, M); refused by name when it is absent or not 2-D."""
    if w is None or w.ndim != 2:
        shape = "none" if w is None else f"shape {list(w.shape)}"
        raise g.refuse(node, f"needs a constant 2-D weight matrix (inputs, outputs), got {shape}")
    return w


def _attributes(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _input_shape(g: _Graph) -> tuple[str, tuple[int, ...]]:
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


def _layers(g: _Graph, start: str) -> tuple[list[Layer], list[dict[str, np.ndarray]], str]:
    """The chain of layers from the input ``start``, their state arrays, and the cost it implies."""
    layers, states, current, cost = [], [], start, "cross-entropy"
    nodes = g.nodes
    output = g.graph.output[0].name
    if [n.op_type for n in nodes[-3:]] == ["Relu", "ReduceSum", "Div"] and nodes[-1].output[0] == output:
        # the quadratic cost's probabilities, max(a, 0) / Σ max(a, 0), as digitnet exports them
        cost, output = "quadratic", nodes[-3].input[0]
        nodes = nodes[:-3]
    i = 0
    while i < len(nodes):
        node, a = nodes[i], _attributes(nodes[i])
        i += 1
        if node.op_type not in SUPPORTED_OPS:
            raise g.refuse(
                node,
                f"operator {node.op_type} is not one digitnet has; it reads {', '.join(SUPPORTED_OPS[:-1])}",
            )
        if not node.input or node.input[0] != current:
            raise g.refuse(node, f"does not take {current!r}, the previous node's output: not a chain")
        current = node.output[0]
        op = node.op_type
        if op in _SKIPPED:
            continue
        if op == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise g.refuse(node, "only Gemm with alpha = beta = 1 and transA = 0 is a dense layer")
            w = _matrix(g, node, g.weight(node, 1))
            w = w.T if a.get("transB", 0) else w
            b = g.weight(node, 2)
            layers.append(Dense(w.shape[1], init="glorot"))
            if b is not None and b.size != w.shape[1]:
                raise g.refuse(node, f"a bias of shape {b.shape}, not one value per output ({w.shape[1]})")
            states.append({"W": w, "b": np.zeros(w.shape[1]) if b is None else b.reshape(-1)})
        elif op == "MatMul":
            w = _matrix(g, node, g.weight(node, 1))
            b = np.zeros(w.shape[1])
            if i < len(nodes) and nodes[i].op_type == "Add" and current in nodes[i].input:
                add = nodes[i]
                other = [name for name in add.input if name != current]
                b = g.weight(add, list(add.input).index(other[0])) if other else None
                if b is None or b.size != w.shape[1]:
                    raise g.refuse(add, f"adds something other than a bias of {w.shape[1]} values")
                current = add.output[0]
                i += 1
            layers.append(Dense(w.shape[1], init="glorot"))
            states.append({"W": w, "b": b.reshape(-1)})
        elif op == "Add":
            raise g.refuse(node, "an Add that does not follow a MatMul: only a dense layer's bias is read")
        elif op == "Conv":
            layers.append(_conv(g, node, a))
            w, b = g.weight(node, 1), g.weight(node, 2)
            states.append({"W": w, "b": np.zeros(w.shape[0]) if b is None else b})
        elif op in ("MaxPool", "AveragePool"):
            layers.append(_pool(g, node, a))
            states.append({})
        elif op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise g.refuse(node, "is in training mode; export the network in inference (eval) mode")
            gamma, beta, mean, var = (g.weight(node, k) for k in (1, 2, 3, 4))
            if var is not None and (np.asarray(var) < 0).any():
                raise g.refuse(node, "has a negative running variance, which no data gives")
            eps = float(f"{a.get('epsilon', 1e-5):.7g}")  # a float32 attribute: 1e-05, not 9.9999997e-06
            if not eps > 0:
                raise g.refuse(
                    node, f"has epsilon {eps}; it must be positive (it keeps 1/sqrt(var + eps) finite)"
                )
            layers.append(BatchNorm(eps=eps))
            states.append({"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var})
        elif op in ("Flatten", "Reshape"):
            _check_flatten(g, node, a)
            layers.append(Flatten())
            states.append({})
        elif op in _ACTIVATIONS:
            layers.append(_ACTIVATIONS[op]())
            states.append({})
        elif op in ("Softmax", "LogSoftmax"):
            if a.get("axis", -1) not in (-1, 1):
                raise g.refuse(node, f"normalises over axis {a['axis']}; digitnet's is the last, the classes")
            if cost == "cross-entropy" and all(n.op_type in _SKIPPED for n in nodes[i:]):
                continue  # the last: the cross-entropy cost's probabilities, softmax of the logits
            if op == "LogSoftmax":
                raise g.refuse(node, "LogSoftmax is read only as the last node, the class probabilities")
            layers.append(Softmax())
            states.append({})
    if current != output:
        raise ModelFileError(f"{g.path}: the chain ends at {current!r}, not at the graph's output {output!r}")
    return layers, states, cost


def _square(g: _Graph, node, a: dict[str, Any], name: str, default) -> int:
    values = list(a.get(name, default))
    if len(values) != 2 or values[0] != values[1]:
        raise g.refuse(node, f"{name} {values}: digitnet has square 2-D windows with equal strides only")
    return int(values[0])


def _conv(g: _Graph, node, a: dict[str, Any]) -> Conv2D:
    w = g.weight(node, 1)
    if w is None or w.ndim != 4:
        raise g.refuse(node, "needs a constant 4-D kernel (F, C, K, K)")
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise g.refuse(node, "grouped or dilated convolutions are not one digitnet has")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise g.refuse(node, f"auto_pad {a['auto_pad']!r}: give explicit pads")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1:
        raise g.refuse(node, f"pads {pads}: digitnet pads every side alike")
    kernel = _square(g, node, a, "kernel_shape", w.shape[2:])
    stride = _square(g, node, a, "strides", [1, 1])
    return Conv2D(w.shape[0], kernel, stride=stride, padding=int(pads[0]), init="glorot")


def _pool(g: _Graph, node, a: dict[str, Any]) -> Layer:
    if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise g.refuse(node, "padded, ceil-mode or dilated pooling is not one digitnet has")
    kernel = _square(g, node, a, "kernel_shape", [])
    stride = _square(g, node, a, "strides", [1, 1])
    cls = MaxPool2D if node.op_type == "MaxPool" else AvgPool2D
    return cls(kernel, stride=None if stride == kernel else stride)


def _check_flatten(g: _Graph, node, a: dict[str, Any]) -> None:
    if node.op_type == "Flatten":
        if a.get("axis", 1) != 1:
            raise g.refuse(node, f"flattens from axis {a['axis']}; digitnet keeps the batch axis, axis 1")
        return
    shape = g.weight(node, 1)
    if shape is None or shape.ndim != 1 or len(shape) != 2:
        # (N, -1), (-1, D), (0, -1) or, from a graph exported with a fixed batch, (N, D): a flatten, as
        # long as the layer after it takes D inputs (checked when the model is built)
        raise g.refuse(node, f"reshapes to {shape}; digitnet reads only a reshape to (N, D), a flatten")


def import_onnx(path: str | os.PathLike) -> ImportedModel:
    """Read the ONNX file at ``path`` as a digitnet model (see the module's table).

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
        onnx.checker.check_model(proto)
    except ModelFileError:
        raise
    except Exception as exc:  # onnx raises DecodeError, ValidationError or its own types for bad files
        raise ModelFileError(f"{path}: not a valid ONNX model: {str(exc).splitlines()[0][:300]}") from None
    g = _Graph(path, proto)
    start, input_shape = _input_shape(g)
    layers, states, cost = _layers(g, start)
    if not layers:
        raise ModelFileError(f"{path}: the graph computes nothing digitnet can learn from (no layers)")
    props = {p.key: p.value for p in proto.metadata_props}
    recorded = _recorded(props)
    try:
        model = _built(layers, states, cost, input_shape, recorded.get("architecture"))
    except ValueError as exc:
        raise ModelFileError(f"{path}: the graph's layers do not fit together: {exc}") from None
    if props.get("digitnet.weights_sha256") != content_digest({}, model.named_state()):
        return ImportedModel(model, {}, {})  # records that describe other weights (or none) are dropped
    return ImportedModel(model, recorded.get("training", {}), recorded.get("metrics", {}))


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
