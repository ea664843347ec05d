"""Reading an ONNX graph's chain of nodes as digitnet layers, the exporters' idioms included.

Besides the operators of :mod:`digitnet.interop.onnx_import`'s table, the chain may hold what exporters
put around a network, each turned into what digitnet computes the same way:

- **Input scaling**: constant scalar ``Sub``, ``Add``, ``Mul``, ``Div`` before the first layer (a Keras
  model trained on 0..255 pixels divides by 255; PyTorch's ``Normalize((m,), (s,))`` is ``(x - m) / s``).
  digitnet's input is always [0, 1] pixels, so x' = a·x + c is folded into the first layer, exactly:
  W' = a·W and b' = b + c·ΣW (over the inputs of each output), where that is exact; where it is not (a
  shift before a zero-padded convolution: the padding would be c, not 0; an activation or batch norm
  between) the scaling is kept as a ``Rescaling`` layer, the network's input transform, which every
  command then applies.
- **Channels-last (Keras, TensorFlow)**: a ``Transpose`` (0, 3, 1, 2) of an (N, H, W, 1) input is the
  identity on one channel; a ``Transpose`` (0, 2, 3, 1) before the flatten orders features (h, w, c), so
  the next dense layer's rows are permuted into digitnet's (c, h, w) order.
- ``auto_pad`` SAME_UPPER / SAME_LOWER / VALID on stride-1, odd-kernel convolutions; ``GlobalAveragePool``
  and ``ReduceMean`` over H and W as average pooling over the whole map.

Shape: the shape after each layer is followed (``Layer.build``) to place these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitnet.errors import ModelFileError
from digitnet.interop.onnx_graph import ACTIVATIONS, SCALING_OPS, SKIPPED, SUPPORTED_OPS, Graph, attributes
from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Rescaling,
    Sigmoid,
    Softmax,
    Tanh,
)

__all__ = ["read_chain"]

_ACTIVATION_LAYERS = dict(zip(ACTIVATIONS, (ReLU, Sigmoid, Tanh), strict=True))


class _Chain:
    """The layers read so far, their states, and the shape of what they give."""

    def __init__(self, input_shape: tuple[int, ...]):
        self.layers: list[Layer] = []
        self.states: list[dict[str, np.ndarray]] = []
        self.input_shape = self.shape = tuple(input_shape)
        self.scale, self.shift = 1.0, 0.0  # the graph's own input scaling x' = scale·x + shift
        self.given: tuple[float, float] | None = (
            None  # the graph's input is given[0] + (given[1] - given[0])·x
        )
        self.at: int | None = None  # where among the layers the graph's own scaling is
        self.folded: tuple[float, float] | None = None  # the graph's input range that was folded in
        self.hwc = None  # (C, H, W) when the next dense layer reads features in (h, w, c) order
        self._rng = np.random.default_rng(0)

    def add(self, layer: Layer, state: dict[str, np.ndarray] | None = None) -> None:
        self.shape = layer.build(self.shape, self._rng)  # validates the shape too (ValueError)
        self.layers.append(layer)
        self.states.append(state or {})


def read_chain(g: Graph, start: str, input_shape: tuple[int, ...], input_range=None):
    """The chain of layers from the input ``start``: (layers, states, cost, input shape, input range).

    ``input_range`` (low, high): what the graph's input is where digitnet's pixels are 0 and 1, folded into
    the first layer with the graph's own scaling. None: (0, 1), unless the graph divides its input by 255
    itself, which only a graph taking bytes does (Keras's ``Rescaling(1/255)``): (0, 255) then. The input
    range used comes back, for the model file's records.

    ValueError for layers that do not fit together; ModelFileError, naming the node, for anything else.
    """
    if len(input_shape) == 2:  # (N, H, W) images, as a Keras MLP takes them: one channel
        input_shape = (1, *input_shape)
    chain, current, cost = _Chain(input_shape), start, "cross-entropy"
    chain.given = None if input_range is None else (float(input_range[0]), float(input_range[1]))
    nodes = g.nodes
    output = g.graph.output[0].name
    if [n.op_type for n in nodes[-3:]] == ["Relu", "ReduceSum", "Div"] and nodes[-1].output[0] == output:
        # the quadratic cost's probabilities, max(a, 0) / Σ max(a, 0), as digitnet exports them
        cost, output = "quadratic", nodes[-3].input[0]
        nodes = nodes[:-3]
    i = 0
    while i < len(nodes):
        node, a = nodes[i], attributes(nodes[i])
        i += 1
        if node.op_type not in SUPPORTED_OPS:
            raise g.refuse(
                node,
                f"operator {node.op_type} is not one digitnet reads; it reads "
                f"{', '.join(SUPPORTED_OPS[:-1])}",
            )
        op = node.op_type
        if op in SCALING_OPS or op == "Add" and chain.folded is None:
            if current not in node.input:
                raise g.refuse(node, f"does not take {current!r}, the previous node's output: not a chain")
            _scaling(g, node, chain, current)
            current = node.output[0]
            continue
        if not node.input or node.input[0] != current:
            raise g.refuse(node, f"does not take {current!r}, the previous node's output: not a chain")
        current = node.output[0]
        if op in SKIPPED:
            continue
        if op == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise g.refuse(node, "only Gemm with alpha = beta = 1 and transA = 0 is a dense layer")
            w = _matrix(g, node, g.weight(node, 1))
            _dense(g, node, chain, w.T if a.get("transB", 0) else w, g.weight(node, 2))
        elif op == "MatMul":
            w = _matrix(g, node, g.weight(node, 1))
            b = None
            if i < len(nodes) and nodes[i].op_type == "Add" and current in nodes[i].input:
                add = nodes[i]
                other = [name for name in add.input if name != current]
                b = g.weight(add, list(add.input).index(other[0])) if other else None
                if b is None or b.size != w.shape[1]:
                    raise g.refuse(add, f"adds something other than a bias of {w.shape[1]} values")
                current = add.output[0]
                i += 1
            _dense(g, node, chain, w, b)
        elif op == "Add":
            raise g.refuse(node, "an Add that does not follow a MatMul: only a dense layer's bias is read")
        elif op == "Conv":
            _conv(g, node, a, chain)
        elif op in ("MaxPool", "AveragePool"):
            chain.add(_pool(g, node, a))
        elif op in ("GlobalAveragePool", "ReduceMean"):
            _global_pool(g, node, a, chain)
        elif op == "Transpose":
            _transpose(g, node, a, chain, nodes[i] if i < len(nodes) else None)
        elif op == "BatchNormalization":
            _batch_norm(g, node, a, chain)
        elif op in ("Flatten", "Reshape"):
            _check_flatten(g, node, a)
            chain.add(Flatten())
        elif op in _ACTIVATION_LAYERS:
            chain.add(_ACTIVATION_LAYERS[op]())
        elif op in ("Softmax", "LogSoftmax"):
            if a.get("axis", -1) not in (-1, 1):
                raise g.refuse(node, f"normalises over axis {a['axis']}; digitnet's is the last, the classes")
            if cost == "cross-entropy" and all(n.op_type in SKIPPED for n in nodes[i:]):
                continue  # the last: the cross-entropy cost's probabilities, softmax of the logits
            if op == "LogSoftmax":
                raise g.refuse(node, "LogSoftmax is read only as the last node, the class probabilities")
            chain.add(Softmax())
    if not nodes:
        raise ModelFileError(
            f"{g.path}: the graph computes nothing from its input (its output is a constant)"
        )
    if current != output:
        raise g.refuse(nodes[-1], f"the chain ends at {current!r}, not at the graph's output {output!r}")
    if chain.folded is None:
        raise g.refuse(nodes[-1], "no dense or convolutional layer: nothing digitnet can learn from")
    return chain.layers, chain.states, cost, chain.input_shape, chain.folded


def _scaling(g: Graph, node, chain: _Chain, current_input: str) -> None:
    """A constant scalar Sub, Add, Mul or Div before the first weighted layer: x' = scale·x + shift."""
    if chain.folded is not None:
        raise g.refuse(
            node, f"a {node.op_type} after the first layer; digitnet reads constant scaling of the input only"
        )
    inputs = list(node.input)
    k = g.weight(node, 1 - inputs.index(current_input))
    if k is None or np.asarray(k).size != 1:
        raise g.refuse(
            node, "scales the input by more than one constant; digitnet reads x·a + c, one a and c"
        )
    k, first = float(np.asarray(k).reshape(())), inputs[0] == current_input
    op = node.op_type
    if op == "Div" and not first or op in ("Mul", "Div") and k == 0:
        raise g.refuse(node, "divides by the input, or scales it by 0: not an input scaling")
    # this node's own factor: x·k, x/k, or -1 for k - x (a shift alone has factor 1)
    factor = k if op == "Mul" else 1.0 / k if op == "Div" else -1.0 if op == "Sub" and not first else 1.0
    if chain.at is None:
        chain.at = len(chain.layers)
    elif not _crossable(chain.layers[chain.at :], factor):  # it cannot join the earlier scaling there
        _keep_as_layer(chain, chain.at, chain.scale, chain.shift)  # e.g. Sub, then ReLU, then Div
        chain.scale, chain.shift, chain.at = 1.0, 0.0, len(chain.layers)
    if op == "Mul" or op == "Div":
        factor = k if op == "Mul" else 1.0 / k
        chain.scale, chain.shift = chain.scale * factor, chain.shift * factor
    elif op == "Add":
        chain.shift += k
    elif first:  # x - k
        chain.shift -= k
    else:  # k - x
        chain.scale, chain.shift = -chain.scale, k - chain.shift
    if not (np.isfinite(chain.scale) and np.isfinite(chain.shift)) or chain.scale == 0:
        raise g.refuse(node, f"scales the input to x·{chain.scale:g} + {chain.shift:g}, which loses it")


def _crossable(layers: list[Layer], scale: float) -> bool:
    """Whether x·scale + c passes through ``layers`` unchanged: flattening, average pooling, and max
    pooling when scale > 0 all commute with it; an activation, batch norm or a padded convolution do not."""
    names = {"Flatten", "AvgPool2D"} | ({"MaxPool2D"} if scale > 0 else set())
    return all(type(layer).__name__ in names for layer in layers)


def _keep_as_layer(chain: _Chain, at: int, scale: float, shift: float) -> None:
    """A scaling that cannot be folded, kept as a layer of the network at position ``at``."""
    if (scale, shift) != (1.0, 0.0):
        chain.layers.insert(at, Rescaling(scale, shift))  # built with the others by Sequential
        chain.states.insert(at, {})


def _fold(g: Graph, node, chain: _Chain, w: np.ndarray, b: np.ndarray, padding: int) -> tuple:
    """The first weighted layer's (W, b) (W: (D, M) or (F, C, K, K)) with the input scaling folded in.

    The graph's input is low + (high - low)·x for digitnet's pixels x (``input_range``), then its own
    scaling, at position ``chain.at`` of the layers: together the first weighted layer gets
    scale·x + shift. Folded into its weights, W' = scale·W, b' = b + shift·ΣW, where that is exact;
    otherwise (an activation or batch norm between, a shift before zero padding, whose border would be
    0 in the graph's input but ``shift`` in the folded one) kept as a :class:`Rescaling` layer.
    """
    if chain.folded is not None:  # the first weighted layer has been read already
        return w, b
    low, high = chain.given or ((0.0, 255.0) if abs(255 * chain.scale - 1) < 1e-3 else (0.0, 1.0))
    chain.folded = (low, high)
    at, given = (0 if chain.at is None else chain.at), (high - low, low)
    if _crossable(chain.layers[:at], given[0]):  # the given range moves on to the graph's own scaling
        scale, shift = chain.scale * given[0], chain.scale * given[1] + chain.shift
    else:
        _keep_as_layer(chain, 0, *given)
        scale, shift, at = chain.scale, chain.shift, at + ((high - low, low) != (1.0, 0.0))
    if (scale, shift) == (1.0, 0.0):
        return w, b
    if not _crossable(chain.layers[at:], scale) or shift and padding:
        _keep_as_layer(chain, at, scale, shift)
        return w, b
    w64, b64 = w.astype(np.float64), b.astype(np.float64)
    sums = w64.sum(axis=0) if w.ndim == 2 else w64.sum(axis=(1, 2, 3))  # (M,) or (F,): Σ over the inputs
    return (scale * w64).astype(np.float32), (b64 + shift * sums).astype(np.float32)


def _dense(g: Graph, node, chain: _Chain, w: np.ndarray, b: np.ndarray | None) -> None:
    if b is not None and b.size != w.shape[1]:
        raise g.refuse(node, f"a bias of shape {b.shape}, not one value per output ({w.shape[1]})")
    b = np.zeros(w.shape[1], np.float32) if b is None else b.reshape(-1)
    if chain.hwc is not None:  # the features come in (h, w, c) order: digitnet's Flatten gives (c, h, w)
        c, h, wd = chain.hwc
        if w.shape[0] != c * h * wd:
            raise g.refuse(node, f"reads {w.shape[0]} features after a channels-last flatten of {c * h * wd}")
        w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(w.shape)
        chain.hwc = None
    features = int(np.prod(chain.shape))
    if w.shape[0] != features:  # before building: a layer is allocated at the size it is given
        raise g.refuse(node, f"a weight matrix for {w.shape[0]} inputs, but the layer gets {features}")
    w, b = _fold(g, node, chain, w, b, padding=0)
    chain.add(Dense(w.shape[1], init="glorot"), {"W": w, "b": b})


def _matrix(g: Graph, node, w: np.ndarray | None) -> np.ndarray:
    """A dense layer's constant weight matrix (D, M); refused by name when it is absent or not 2-D."""
    if w is None or w.ndim != 2:
        shape = "none" if w is None else f"shape {list(w.shape)}"
        raise g.refuse(node, f"needs a constant 2-D weight matrix (inputs, outputs), got {shape}")
    return w


def _square(g: Graph, node, a: dict[str, Any], name: str, default) -> int:
    values = list(a.get(name, default))
    if len(values) != 2 or values[0] != values[1]:
        raise g.refuse(node, f"{name} {values}: digitnet has square 2-D windows with equal strides only")
    return int(values[0])


def _conv(g: Graph, node, a: dict[str, Any], chain: _Chain) -> None:
    w = g.weight(node, 1)
    if w is None or w.ndim != 4:
        raise g.refuse(node, "needs a constant 4-D kernel (F, C, K, K)")
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise g.refuse(node, "grouped or dilated convolutions are not one digitnet has")
    kernel = _square(g, node, a, "kernel_shape", w.shape[2:])
    if w.shape[2:] != (kernel, kernel):
        raise g.refuse(node, f"kernel_shape {kernel}x{kernel}, but its weights are {w.shape[2]}x{w.shape[3]}")
    stride = _square(g, node, a, "strides", [1, 1])
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if stride != 1 or kernel % 2 == 0:
            raise g.refuse(
                node,
                f"auto_pad {auto} with stride {stride} and a {kernel}x{kernel} kernel pads "
                "one side more than the other; digitnet pads every side alike",
            )
        pads = [(kernel - 1) // 2] * 4
    elif auto == "VALID":
        pads = [0] * 4
    elif auto == "NOTSET":
        pads = list(a.get("pads", [0, 0, 0, 0]))
    else:
        raise g.refuse(node, f"auto_pad {auto!r} is not an ONNX padding")
    if len(set(pads)) != 1:
        raise g.refuse(node, f"pads {pads}: digitnet pads every side alike")
    if len(chain.shape) != 3 or w.shape[1] != chain.shape[0]:
        raise g.refuse(
            node, f"a kernel for {w.shape[1]} channels, but the layer gets shape {list(chain.shape)}"
        )
    b = g.weight(node, 2)
    b = np.zeros(w.shape[0], np.float32) if b is None else b.reshape(-1)
    w, b = _fold(g, node, chain, w, b, padding=int(pads[0]))
    chain.add(
        Conv2D(w.shape[0], kernel, stride=stride, padding=int(pads[0]), init="glorot"), {"W": w, "b": b}
    )


def _pool(g: Graph, node, a: dict[str, Any]) -> Layer:
    if any(a.get("pads", [0])) or a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise g.refuse(node, "padded, ceil-mode or dilated pooling is not one digitnet has")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
        raise g.refuse(node, f"auto_pad {a['auto_pad']!r} pooling is not one digitnet has")
    kernel = _square(g, node, a, "kernel_shape", [])
    stride = _square(g, node, a, "strides", [1, 1])
    cls = MaxPool2D if node.op_type == "MaxPool" else AvgPool2D
    return cls(kernel, stride=None if stride == kernel else stride)


def _global_pool(g: Graph, node, a: dict[str, Any], chain: _Chain) -> None:
    """GlobalAveragePool, or ReduceMean over H and W: the mean of each feature map."""
    if len(chain.shape) != 3 or chain.shape[1] != chain.shape[2]:
        raise g.refuse(node, f"averages maps of shape {list(chain.shape)}; digitnet averages square maps")
    if node.op_type == "ReduceMean":
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = g.weight(node, 1)
        if axes is None or sorted(int(x) % 4 for x in np.ravel(axes)) != [2, 3]:
            raise g.refuse(node, f"takes the mean over axes {axes}; digitnet reads the mean over H and W")
    chain.add(AvgPool2D(chain.shape[1]))
    if node.op_type == "ReduceMean" and not a.get("keepdims", 1):
        chain.add(Flatten())


def _transpose(g: Graph, node, a: dict[str, Any], chain: _Chain, following) -> None:
    """A channels-last graph's Transposes: of the input (0, 3, 1, 2), or before the flatten (0, 2, 3, 1)."""
    perm = list(a.get("perm", []))
    if perm == [0, 3, 1, 2] and not chain.layers and len(chain.shape) == 3:
        h, w, c = chain.shape
        if c != 1:
            raise g.refuse(node, f"reads {c}-channel images; digits have one channel")
        chain.input_shape = chain.shape = (1, h, w)  # one channel: (H, W, 1) and (1, H, W) are one layout
        return
    if (
        perm == [0, 2, 3, 1]
        and len(chain.shape) == 3
        and following is not None
        and following.op_type
        in (
            "Flatten",
            "Reshape",
        )
    ):
        chain.hwc = chain.shape  # the dense layer after the flatten reads (h, w, c) order
        return
    raise g.refuse(
        node, f"permutes axes {perm}; digitnet reads the Transposes of channels-last networks only"
    )


def _batch_norm(g: Graph, node, a: dict[str, Any], chain: _Chain) -> None:
    if a.get("training_mode", 0):
        raise g.refuse(node, "is in training mode; export the network in inference (eval) mode")
    gamma, beta, mean, var = (g.weight(node, k) for k in (1, 2, 3, 4))
    if var is not None and (np.asarray(var) < 0).any():
        raise g.refuse(node, "has a negative running variance, which no data gives")
    eps = float(f"{a.get('epsilon', 1e-5):.7g}")  # a float32 attribute: 1e-05, not 9.9999997e-06
    if not eps > 0:
        raise g.refuse(node, f"has epsilon {eps}; it must be positive (it keeps 1/sqrt(var + eps) finite)")
    chain.add(BatchNorm(eps=eps), {"gamma": gamma, "beta": beta, "running_mean": mean, "running_var": var})


def _check_flatten(g: Graph, node, a: dict[str, Any]) -> None:
    if node.op_type == "Flatten":
        if a.get("axis", 1) != 1:
            raise g.refuse(node, f"flattens from axis {a['axis']}; digitnet keeps the batch axis, axis 1")
        return
    shape = g.weight(node, 1)
    if shape is None or shape.ndim != 1 or len(shape) != 2:
        # (N, -1), (-1, D), (0, -1) or, from a graph exported with a fixed batch, (N, D): a flatten, as
        # long as the layer after it takes D inputs (checked when the layer is built)
        raise g.refuse(node, f"reshapes to {shape}; digitnet reads only a reshape to (N, D), a flatten")
