"""A digitnet model as an ONNX graph, so ONNX Runtime (or any ONNX tool) can run it without digitnet.

One ONNX operator (or none) per digitnet layer, in order, then the cost's probabilities:

==================  ========================================================================
digitnet layer      ONNX node
==================  ========================================================================
Dense               Gemm(x, W, b): z = x W + b, W stored (D, U) as digitnet keeps it
Conv2D              Conv(x, W, b), W (F, C, K, K); pads p on every side, strides s
MaxPool2D           MaxPool, kernel K x K, strides s
AvgPool2D           AveragePool, kernel K x K, strides s
BatchNorm           BatchNormalization with the running statistics (inference), epsilon ε
Flatten             Flatten(axis=1): (N, C, H, W) -> (N, C·H·W)
Rescaling           Mul(x, scale), then Add(·, offset) when the offset is not 0
Sigmoid, Tanh,      Sigmoid, Tanh, Relu, Softmax(axis=-1)
ReLU, Softmax
Identity, Dropout   nothing: both are the identity at inference
==================  ========================================================================

The graph's output is what :meth:`Sequential.predict_proba` returns: ``Softmax`` of the logits for the
cross-entropy cost; for the quadratic cost the activations clipped at 0 and rescaled to sum 1
(``Relu``, ``ReduceSum``, ``Div``; a row with no positive output, which digitnet makes uniform, is
the one case the graph does not reproduce: it gives NaN).

Shape
-----
input ``pixels`` (N, 784) for an MLP or (N, 1, 28, 28) for a CNN: float32 grey levels in [0, 1], 0 the
paper, 1 the ink, as MNIST's; N is a dynamic dimension. Output ``probabilities`` (N, 10), rows sum to 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.atomic import atomic_write
from digitnet.extras import require
from digitnet.modelfile import content_digest
from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    MaxPool2D,
    ReLU,
    Rescaling,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from digitnet.version import __version__

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "export_onnx", "to_onnx"]

INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
OPSET = 17  # BatchNormalization-15, Softmax-13, Gemm-13: understood by every ONNX Runtime since 1.12
_ACTIVATION_OPS = {Sigmoid: "Sigmoid", Tanh: "Tanh", ReLU: "Relu"}


def to_onnx(
    model: Sequential,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    name: str = "digitnet",
):
    """The ONNX ``ModelProto`` of ``model``, checked with ``onnx.checker`` (full check, shapes inferred).

    Parameters
    ----------
    model : Sequential
    training, metrics : dict, optional
        Recorded in the file's metadata (``metadata_props``) as JSON under ``digitnet.training`` and
        ``digitnet.metrics``, beside ``digitnet.architecture`` (``Sequential.config()``); ``test_accuracy``
        also under its own key when the metrics have it.
    name : str
        The graph's name.
    """
    onnx = require("onnx", "onnx", "ONNX export")
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    current = INPUT_NAME

    def add(op: str, inputs: list[str], index: int, **attributes) -> None:
        nonlocal current
        out = f"layers.{index}.{op.lower()}" if index >= 0 else f"output.{op.lower()}"
        nodes.append(helper.make_node(op, [current, *inputs], [out], name=out, **attributes))
        current = out

    def weight(key: str, array: np.ndarray, dtype=np.float32) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=dtype), key))
        return key

    for i, layer in enumerate(model.layers):
        p, b = layer.params, layer.buffers
        if isinstance(layer, Dense):
            add("Gemm", [weight(f"layers.{i}.W", p["W"]), weight(f"layers.{i}.b", p["b"])], i)
        elif isinstance(layer, Conv2D):
            k, pad = layer.kernel_size, _padding(layer)
            params = [weight(f"layers.{i}.W", p["W"]), weight(f"layers.{i}.b", p["b"])]
            add("Conv", params, i, kernel_shape=[k, k], strides=[layer.stride] * 2, pads=[pad] * 4)
        elif isinstance(layer, (MaxPool2D, AvgPool2D)):
            op = "MaxPool" if isinstance(layer, MaxPool2D) else "AveragePool"
            add(op, [], i, kernel_shape=[layer.pool_size] * 2, strides=[layer.step] * 2)
        elif isinstance(layer, BatchNorm):
            stats = [
                weight(f"layers.{i}.{key}", array)
                for key, array in (("gamma", p["gamma"]), ("beta", p["beta"]))
                + (("running_mean", b["running_mean"]), ("running_var", b["running_var"]))
            ]
            add("BatchNormalization", stats, i, epsilon=layer.eps, momentum=1.0 - layer.momentum)
        elif isinstance(layer, Flatten):
            add("Flatten", [], i, axis=1)
        elif isinstance(layer, Softmax):
            add("Softmax", [], i, axis=-1)
        elif isinstance(layer, Rescaling):
            add("Mul", [weight(f"layers.{i}.scale", np.float32(layer.scale))], i)
            if layer.offset:
                add("Add", [weight(f"layers.{i}.offset", np.float32(layer.offset))], i)
        elif type(layer) in _ACTIVATION_OPS:
            add(_ACTIVATION_OPS[type(layer)], [], i)
        elif isinstance(layer, (Identity, Dropout)):
            continue  # the identity at inference
        else:
            raise ValueError(f"layer {i}, {layer.describe()}, has no ONNX translation in digitnet yet")

    if model.cost_name == "cross-entropy":
        add("Softmax", [], -1, axis=-1)
    else:  # Quadratic.probabilities: max(a, 0) / Σ max(a, 0)
        add("Relu", [], -1)
        clipped = current
        add("ReduceSum", [weight("output.sum_axes", [1], np.int64)], -1, keepdims=1)  # (N, 1)
        nodes.append(helper.make_node("Div", [clipped, current], ["output.div"], name="output.div"))
        current = "output.div"
    nodes[-1].output[0] = OUTPUT_NAME

    pixels = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *model.input_shape])
    pixels.doc_string = "N digits, float32 grey levels in [0, 1] (0 paper, 1 ink), each " + (
        "a 1x28x28 image" if model.is_convolutional else "784 pixels in rows of 28"
    )
    probabilities = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", model.n_classes])
    probabilities.doc_string = "each digit's probability of every class 0..C-1; rows sum to 1"
    graph = helper.make_graph(nodes, name, [pixels], [probabilities], initializer=weights)
    proto = helper.make_model(
        graph,
        producer_name="digitnet",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=f"digitnet {model!r}",
    )
    proto.ir_version = 8  # what opset 17 came with: readable by ONNX Runtime 1.12 and later
    metadata = {
        "digitnet.architecture": json.dumps(model.config()),
        # the records below describe these weights and no others: import keeps them only if they match
        "digitnet.weights_sha256": content_digest({}, model.named_state()),
    }
    if training:
        metadata["digitnet.training"] = json.dumps(training)
    if metrics:
        metadata["digitnet.metrics"] = json.dumps(metrics)
        if "test_accuracy" in metrics:
            metadata["test_accuracy"] = str(metrics["test_accuracy"])
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(
    model: Sequential,
    path: str | os.PathLike,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` as an ONNX file (see :func:`to_onnx`), atomically; returns the path.

    Examples
    --------
    >>> from digitnet.modelfile import load_model
    >>> from digitnet.models import DEFAULT_MODEL
    >>> loaded = load_model(DEFAULT_MODEL)
    >>> export_onnx(loaded.model, "default.onnx", metrics=loaded.metrics)  # doctest: +SKIP
    """
    payload = to_onnx(model, training=training, metrics=metrics).SerializeToString()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(payload)
    return path


def _padding(layer: Conv2D) -> int:
    """p, the zero pixels on each side: ``padding``, or (K - 1) / 2 for "same"."""
    return (layer.kernel_size - 1) // 2 if layer.padding == "same" else int(layer.padding)
