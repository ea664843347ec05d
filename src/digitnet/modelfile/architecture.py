"""The architecture recorded in a model file, checked and sized before a single weight is allocated.

``Sequential.from_config`` allocates and initialises every weight the architecture asks for, and only then
does ``set_state`` compare them with the file: a 330 kB file declaring ``Dense(1_000_000)`` cost 37 s and
9.3 GB before its error. :func:`check_architecture` first checks that the recorded architecture has the
shape :meth:`Sequential.config` gives it (known layer types, each with its own arguments as plain JSON
values, every size a positive integer within bounds), then works out from each layer's
:meth:`~digitnet.nn.layer.Layer.state_shapes` the shape of every parameter and buffer the model would
hold, with nothing allocated, and compares those with the tensors the file declares. Weights are created
only for an architecture whose tensors the file really holds, so they never take more memory than a
small multiple of its size.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

from digitnet.checks import is_integer
from digitnet.errors import ModelFileError
from digitnet.modelfile.container import ADVICE, short
from digitnet.nn.costs import COSTS
from digitnet.nn.layer import LAYERS

__all__ = ["MAX_LAYERS", "MAX_SIZE", "MAX_VALUES", "check_architecture"]

MAX_LAYERS = 1_000  # digitnet's deepest preset has about 20
MAX_SIZE = 2**24  # any one integer argument or input dimension (units, filters, kernel, padding, ...)
MAX_VALUES = 2**24  # values per example out of any layer, 64 MB of float32; LeNet-5's largest is 4,704
MAX_INPUT_AXES = 8


def check_architecture(path: Path, architecture: Any, declared: dict[str, tuple[int, ...]]) -> None:
    """Refuse ``architecture`` unless it is valid and needs exactly the ``declared`` tensor shapes.

    Parameters
    ----------
    path : Path
        The model file, for messages.
    architecture : object
        The header's ``architecture`` entry as parsed JSON: ``{"input_shape": [...], "cost": str,
        "layers": [{"type": str, **arguments}, ...]}``.
    declared : dict of str to tuple of int
        The shape of every tensor in the file by name, e.g. ``{"layers.0.W": (784, 100), ...}``.

    Raises
    ------
    ModelFileError
        Naming the field or layer that is wrong.
    """
    expected, kinds = _state_shapes(path, architecture)
    missing, extra = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
    if missing or extra:
        problems = [f"lacks tensors {_some(missing)} that the architecture needs"] if missing else []
        problems += [f"holds tensors {_some(extra)} that the architecture has no place for"] if extra else []
        raise _fail(path, "the file " + " and ".join(problems))
    for name, shape in expected.items():
        if declared[name] != shape:
            layer = int(name.split(".")[1])
            raise _fail(
                path,
                f"tensor {name} has shape {declared[name]} in the file, but layer {layer} ({kinds[layer]}) "
                f"of the architecture needs {shape}",
            )


def _state_shapes(path: Path, arch: Any) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Every parameter's and buffer's shape by name (``layers.<i>.<key>``), and each layer's type."""
    if not isinstance(arch, dict):
        raise _fail(path, f"the architecture is a JSON {_kind(arch)}, not an object")
    if set(arch) != {"input_shape", "cost", "layers"}:
        raise _fail(
            path, f"the architecture must hold exactly input_shape, cost and layers, got {short(list(arch))}"
        )
    shape = arch["input_shape"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_INPUT_AXES or not all(map(_size, shape)):
        raise _fail(
            path,
            f"architecture.input_shape must be a list of 1 to {MAX_INPUT_AXES} integers "
            f"from 1 to {MAX_SIZE:,}, got {short(shape)}",
        )
    if math.prod(shape) > MAX_VALUES:
        raise _fail(path, f"architecture.input_shape {shape} has more than {MAX_VALUES:,} values per example")
    cost = arch["cost"]
    if not isinstance(cost, str) or cost not in COSTS:
        raise _fail(path, f"architecture.cost must be one of {sorted(COSTS)}, got {short(cost)}")
    specs = arch["layers"]
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_LAYERS:
        raise _fail(path, f"architecture.layers must be a list of 1 to {MAX_LAYERS:,} layers")
    expected: dict[str, tuple[int, ...]] = {}
    kinds: list[str] = []
    shape = tuple(shape)
    for i, spec in enumerate(specs):
        layer, kind = _layer(path, i, spec)
        kinds.append(kind)
        try:
            shape, own = layer.state_shapes(shape)
        except ValueError as exc:
            raise _fail(
                path, f"architecture layer {i} ({kind}) cannot follow the layer before it: {exc}"
            ) from None
        if math.prod(shape) > MAX_VALUES:
            raise _fail(
                path,
                f"architecture layer {i} ({kind}) outputs {shape}, "
                f"more than {MAX_VALUES:,} values per example",
            )
        expected.update({f"layers.{i}.{key}": tuple(s) for key, s in own.items()})
    if len(shape) != 1:
        raise _fail(path, f"the architecture's last layer must output class scores (N, C), got shape {shape}")
    return expected, kinds


def _layer(path: Path, i: int, spec: Any):
    """Layer ``i`` built from its spec (which allocates nothing; ``build`` does), and its type name."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or spec["type"] not in LAYERS:
        kind = spec.get("type") if isinstance(spec, dict) else spec
        raise _fail(
            path,
            f"architecture layer {i} has type {short(kind)}; known types are {', '.join(sorted(LAYERS))}",
        )
    kind = spec["type"]
    args = {k: v for k, v in spec.items() if k != "type"}
    accepted = [p for p in inspect.signature(LAYERS[kind].__init__).parameters if p != "self"]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise _fail(
            path,
            f"architecture layer {i} ({kind}) has unknown arguments {_some(unknown)}; it takes {accepted}",
        )
    for key, value in args.items():
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise _fail(
                path, f"architecture layer {i} ({kind}) {key} is a JSON {_kind(value)}, not a single value"
            )
        if is_integer(value) and abs(value) > MAX_SIZE:
            raise _fail(
                path,
                f"architecture layer {i} ({kind}) {key} is {value}, beyond digitnet's limit of {MAX_SIZE:,}",
            )
        if isinstance(value, str) and len(value) > 64:
            raise _fail(path, f"architecture layer {i} ({kind}) {key} is a {len(value):,}-character string")
    try:
        return LAYERS[kind](**args), kind
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"architecture layer {i} ({kind}): {exc}") from None


def _size(value: Any) -> bool:
    return is_integer(value, 1, MAX_SIZE)


def _kind(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _some(names: list[str]) -> str:
    """Up to 5 of ``names``, each cut short, and how many more."""
    shown = ", ".join(short(name) for name in names[:5])
    return shown + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")


def _fail(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}; {ADVICE}")
