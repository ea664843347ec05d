"""What an ONNX file may declare, checked before digitnet builds anything from it.

An ONNX file declares shapes, element types and where its weights are stored; a reader that believes it
allocates what it is told (a 320 kB file declaring a 400,000-unit layer, a 50-million-wide input) or
reads where it is pointed (weights "stored" in ``../../secret``, behind a link, in a FIFO or /dev/zero).
:func:`check_external` loads weights stored beside the file only from plain regular files in its folder;
:func:`check_declared` bounds every declared size by the model file's own limits
(:mod:`digitnet.modelfile.architecture`) and refuses values that are not finite real numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from digitnet.errors import ModelFileError
from digitnet.files import file_problem

__all__ = ["MAX_ONNX_BYTES", "check_declared", "check_external"]

MAX_ONNX_BYTES = 32 << 20
"""Largest ONNX file read: 32 MB, six times digitnet's largest network."""


def check_external(path: Path, proto) -> None:
    """Load the weights an exporter stored beside the file (PyTorch's dynamo exporter does), but only from
    regular files in the file's own folder, named plainly (no folder, no link), at most
    :data:`MAX_ONNX_BYTES` together and within each file; anything else is refused by name."""
    from onnx import TensorProto, helper
    from onnx.external_data_helper import load_external_data_for_model

    folder, total = path.parent, 0
    external = [t for t in _all_tensors(proto) if t.data_location == TensorProto.EXTERNAL]
    for t in external:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        where = folder / location
        if not location or Path(location).name != location or location in (".", ".."):
            raise ModelFileError(f"{path}: tensor {t.name!r} is stored at {location!r}, outside its folder")
        problem = "is a link" if where.is_symlink() else file_problem(where)
        if problem is not None:
            raise ModelFileError(f"{path}: tensor {t.name!r} is stored in {where}, which {problem}")
        itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        length = int(info.get("length", 0) or 0) or itemsize * math.prod(t.dims)
        end = int(info.get("offset", 0) or 0) + length
        total += length
        if end > where.stat().st_size or total > MAX_ONNX_BYTES:
            raise ModelFileError(
                f"{path}: tensor {t.name!r} asks for {length:,} bytes of {where.name}, beyond the file or "
                f"digitnet's limit of {MAX_ONNX_BYTES:,} bytes of weights"
            )
    if external:
        load_external_data_for_model(proto, str(folder))


def _all_tensors(proto) -> list:
    """Every initializer and every tensor a node's attribute holds (Constant values)."""
    tensors = list(proto.graph.initializer)
    for node in proto.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    return tensors


def check_declared(path: Path, proto) -> None:
    """Refuse, before any array exists, what the file declares but digitnet would not build: tensors
    stored outside the file, a dimension or a tensor beyond the model file's limits
    (:mod:`digitnet.modelfile.architecture`), an element type that is not a real number, and weights that
    are not finite. Shape: every initializer and Constant, and the graph's declared inputs."""
    from onnx import TensorProto, numpy_helper

    from digitnet.modelfile.architecture import MAX_SIZE, MAX_VALUES

    tensors = [(t.name, t) for t in proto.graph.initializer]
    for node in proto.graph.node:
        tensors += [(f"{node.name or node.op_type}.{a.name}", a.t) for a in node.attribute if a.HasField("t")]
    real = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT64, TensorProto.INT32}
    for name, t in tensors:
        if any(d < 0 or d > MAX_SIZE for d in t.dims) or math.prod(t.dims) > MAX_VALUES:
            raise ModelFileError(
                f"{path}: tensor {name!r} declares shape {list(t.dims)}, beyond digitnet's limits "
                f"({MAX_SIZE:,} per dimension, {MAX_VALUES:,} values)"
            )
        if t.data_type not in real:
            kind = (
                TensorProto.DataType.Name(t.data_type)
                if t.data_type in TensorProto.DataType.values()
                else f"an unknown type ({t.data_type})"
            )
            raise ModelFileError(
                f"{path}: tensor {name!r} holds {kind} values; digitnet reads weights of real numbers"
            )
        try:
            values = numpy_helper.to_array(t)  # bounded by the two checks above
        except ValueError:  # its stored values are not as many as its shape declares
            raise ModelFileError(
                f"{path}: tensor {name!r} declares shape {list(t.dims)} ({math.prod(t.dims):,} values) but "
                "stores another number of them: the file was damaged or edited; export it again"
            ) from None
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values")
    for value in proto.graph.input:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim[1:] if d.HasField("dim_value")]
        if any(d > MAX_SIZE for d in dims) or math.prod(dims) > MAX_VALUES:
            raise ModelFileError(
                f"{path}: input {value.name!r} declares {dims} values per example, beyond digitnet's limit "
                f"of {MAX_VALUES:,}"
            )
