"""One ONNX graph as the importer walks it: its nodes, its constants, and refusals that name the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitnet.errors import ModelFileError

__all__ = ["ACTIVATIONS", "SKIPPED", "SUPPORTED_OPS", "SCALING_OPS", "Graph", "attributes"]

ACTIVATIONS = ("Relu", "Sigmoid", "Tanh")
SKIPPED = ("Identity", "Dropout")
SCALING_OPS = ("Sub", "Div", "Mul")
"""With ``Add``: a constant scaling of the input before the first layer, folded into that layer."""

SUPPORTED_OPS = (
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Transpose",
    *SCALING_OPS,
    *ACTIVATIONS,
    "Softmax",
    "LogSoftmax",
    *SKIPPED,
    "Constant",
)


def attributes(node) -> dict[str, Any]:
    """A node's attributes as Python values (strings as bytes, as onnx gives them)."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Graph:
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
            raise self.refuse(
                node, f"input {name!r} is computed, not a constant: digitnet reads one chain of layers"
            )
        return self.constants[name]
