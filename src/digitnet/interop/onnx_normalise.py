"""What exporters wrap around a network, unwrapped before the chain is read: ONNX Runtime's basic
graph optimisations, run offline.

Published digit models carry harmless wrappers that are not layers: a float-to-float ``Cast`` (Keras 3,
skl2onnx), the dynamic flatten ``Shape → Gather → Unsqueeze → Concat → Reshape`` (TorchScript's
``x.view(x.size(0), -1)``), constant-only subgraphs (a ``Reshape`` of a weight), a convolution's bias as a
separate ``Add``, ``Identity`` copies, and nodes out of topological order. ONNX Runtime, which the ``onnx``
extra installs anyway, rewrites all of them at its *basic* level (constant folding, redundant-node
elimination, Conv-Add/Conv-BatchNorm/MatMul-Add fusion, reshape fusion), keeping standard ONNX operators
only. Measured on the idioms above, it leaves the chain digitnet reads; onnxsim and onnxoptimizer would be
another dependency each for the same rewrites.

A hostile graph must not make that rewriting expensive: before ONNX Runtime sees it, every operator must
be one digitnet reads or one of :data:`WRAPPER_OPS` (nothing that creates large tensors from small ones:
no ``ConstantOfShape``, ``Expand``, ``Tile``, ``Range``), the graph at most :data:`MAX_NODES` nodes, and
every shape that onnx's shape inference can work out within the model file's limits.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from digitnet.errors import ModelFileError
from digitnet.interop.onnx_graph import SUPPORTED_OPS

__all__ = ["MAX_NODES", "WRAPPER_OPS", "normalised", "sorted_nodes"]

WRAPPER_OPS = ("Cast", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice")
"""Operators exporters put around a network, which ONNX Runtime folds away."""

MAX_NODES = 5_000
"""Most nodes a graph may have: digitnet's deepest network has under 100, an exporter's wrappers a few
more each."""


def sorted_nodes(path: Path, proto) -> None:
    """Put the graph's nodes in topological order, in place (Kahn's algorithm, linear in the edges; the
    order kept where it is already right). Nodes whose inputs nothing computes stay, at the end, for the
    chain reader to refuse by name. At most :data:`MAX_NODES` nodes are sorted (ModelFileError beyond)."""
    from collections import deque

    graph = proto.graph
    if len(graph.node) > MAX_NODES:
        raise ModelFileError(f"{path}: {len(graph.node):,} nodes; digitnet reads at most {MAX_NODES:,}")
    known = {t.name for t in graph.initializer} | {i.name for i in graph.input} | {""}
    nodes = list(graph.node)
    missing = [len({name for name in n.input if name not in known}) for n in nodes]
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in {name for name in node.input if name not in known}:
            readers.setdefault(name, []).append(i)
    ready = deque(i for i, count in enumerate(missing) if count == 0)
    order, produced = [], set()
    while ready:
        i = ready.popleft()
        order.append(i)
        for name in nodes[i].output:
            if name in produced:
                continue
            produced.add(name)
            for j in readers.get(name, ()):
                missing[j] -= 1
                if missing[j] == 0:
                    ready.append(j)
    placed = set(order)
    order += [i for i in range(len(nodes)) if i not in placed]  # a cycle, or inputs nothing computes
    if order != list(range(len(nodes))):
        copies = [type(nodes[i])() for i in order]
        for copy, i in zip(copies, order, strict=True):
            copy.CopyFrom(nodes[i])
        del graph.node[:]
        graph.node.extend(copies)


def normalised(path: Path, proto):
    """``proto`` rewritten by ONNX Runtime's basic optimisations, or None when there is nothing to gain
    (onnxruntime missing, or it cannot load the graph; the caller then reports the graph as it is).

    Raises ModelFileError, naming the node, for a graph that could make the rewriting costly. The node
    count is bounded already: :func:`sorted_nodes` runs on every graph first.
    """
    from onnx import load_from_string, shape_inference

    from digitnet.modelfile.architecture import MAX_VALUES

    allowed = set(SUPPORTED_OPS) | set(WRAPPER_OPS) | {"ReduceSum"}
    for node in proto.graph.node:
        if node.op_type not in allowed or node.domain not in ("", "ai.onnx"):
            where = f"node {node.name!r} ({node.op_type})" if node.name else f"a {node.op_type} node"
            raise ModelFileError(
                f"{path}: {where}: operator {node.op_type} is not one digitnet reads, nor a wrapper "
                f"exporters add ({', '.join(WRAPPER_OPS)})"
            )
    try:
        inferred = shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - onnx raises several types; the chain reader reports the graph
        return None
    for value in [*inferred.graph.value_info, *inferred.graph.output]:  # every type: bytes add up too
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if math.prod(dims) > MAX_VALUES:
            raise ModelFileError(
                f"{path}: the graph computes {value.name!r} of shape {dims}, beyond digitnet's limit of "
                f"{MAX_VALUES:,} values"
            )
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3  # errors only: its warnings are about the graph we are reading anyway
    with tempfile.TemporaryDirectory(prefix="digitnet-onnx-") as folder:
        options.optimized_model_filepath = str(Path(folder) / "normalised.onnx")
        try:
            ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
            return load_from_string(Path(options.optimized_model_filepath).read_bytes())
        except Exception:  # noqa: BLE001 - ONNX Runtime's own error types; nothing gained then
            return None
