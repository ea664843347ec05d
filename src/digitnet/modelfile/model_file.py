"""Saving and loading one model file: the header, its checksum, the checks in order, the tensors.

See :mod:`digitnet.modelfile` for the format.
"""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from digitnet.atomic import atomic_write
from digitnet.checks import is_integer
from digitnet.errors import ModelFileError
from digitnet.files import file_problem
from digitnet.modelfile.architecture import check_architecture
from digitnet.modelfile.container import Container, load_bounded_json, read_container
from digitnet.modelfile.records import check_records
from digitnet.nn.model import Sequential
from digitnet.version import __version__

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LoadedModel",
    "content_digest",
    "load_model",
    "read_header",
    "save_model",
]

FORMAT = "digitnet-model"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A model read from a file, with everything recorded beside its weights."""

    model: Sequential
    training: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    digitnet_version: str = ""
    created: str = ""
    path: Path | None = None


def content_digest(header: dict[str, Any], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the header (without its ``sha256`` entry, as canonical JSON) and every array's
    name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    rest = {k: v for k, v in header.items() if k != "sha256"}
    h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model(
    path: str | os.PathLike,
    model: Sequential,
    *,
    training: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` and its records to ``path`` atomically; returns the path.

    Parameters
    ----------
    training : dict, optional
        The :class:`~digitnet.training.config.TrainConfig` as a dict.
    history : dict, optional
        :meth:`History.to_dict`.
    metrics : dict, optional
        Final scores, e.g. ``test_accuracy``.
    """
    path = Path(path)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in model.named_state().items()}
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "digitnet_version": __version__,
        "architecture": model.config(),
        "training": training or {},
        "history": history or {},
        "metrics": metrics or {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    header["sha256"] = content_digest(header, tensors)
    payload = safetensors.numpy.save(tensors, metadata={"digitnet": json.dumps(header)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(payload)
    return path


def _fail(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The digitnet header of a model file, checked, without reading its weights.

    The first steps of :func:`load_model`: the safetensors container, the format and its version, the
    records beside the weights and the architecture against the declared tensors; the ``sha256`` it
    returns identifies the file's whole content (so a run's ``metrics.json`` can name its model).

    Raises
    ------
    ModelFileError
        As :func:`load_model`, for everything but the weights themselves.
    """
    return _checked_header(Path(path))[0]


def _checked_header(path: Path) -> tuple[dict[str, Any], Container]:
    if path.is_dir():
        raise _fail(
            path,
            f"is a folder, not a model file; name the model file inside it (a run folder holds "
            f"{path / 'model.safetensors'})",
        )
    problem = file_problem(path)
    if problem == "does not exist":
        raise _fail(path, "no such model file; train one with `digitnet train` (it prints where it saved it)")
    if problem is not None:
        raise _fail(path, f"{problem}; give a model file written by `digitnet train`")
    container = read_container(path)
    if "digitnet" not in container.metadata:
        raise _fail(
            path,
            "a safetensors file, but not a digitnet model (no digitnet header); "
            "give a model file written by `digitnet train`",
        )
    try:
        header = load_bounded_json(container.metadata["digitnet"])
    except ValueError as exc:
        raise _fail(
            path, f"the digitnet header is {exc}; the file was damaged: retrain or restore it"
        ) from None
    _check_format(path, header)
    check_records(path, header)
    if "architecture" not in header:
        raise _fail(path, "the header records no architecture; the file was damaged: retrain or restore it")
    check_architecture(path, header["architecture"], {k: e.shape for k, e in container.tensors.items()})
    if not isinstance(header.get("sha256"), str):
        raise _fail(path, "the header records no checksum; the file was damaged: retrain or restore it")
    return header, container


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read a model file written by :func:`save_model`.

    Nothing is allocated from what the file declares until it has been checked against what the file
    holds, in this order: the safetensors container (:mod:`digitnet.modelfile.container`), the format
    and its version, the records beside the weights (:mod:`digitnet.modelfile.records`), the
    architecture against the declared tensors (:mod:`digitnet.modelfile.architecture`); then the
    tensors are read, checked against the checksum and for NaN or infinite values, and only then is
    the model built. A crafted header is refused in milliseconds, with at most a small multiple of the
    file's size in memory.

    Raises
    ------
    ModelFileError
        The file is missing, not a safetensors file, truncated, not a digitnet model, from a newer
        format, inconsistent (a field of the wrong type, weights that do not fit the architecture),
        holds NaN or infinite weights, or does not match the checksum recorded when it was saved.
    """
    path = Path(path)
    header, container = _checked_header(path)
    tensors = _read_tensors(path, container)
    if content_digest(header, tensors) != header.get("sha256"):
        raise _fail(
            path,
            "the contents do not match the checksum recorded when the file was saved: "
            "the file was modified or corrupted; retrain or restore it",
        )
    for name, array in tensors.items():
        if not np.isfinite(array).all():
            raise _fail(
                path,
                f"tensor {name} holds NaN or infinite weights, which predict nothing; "
                "retrain the model or restore the file",
            )
        if name.endswith(".running_var") and (array < 0).any():  # a variance: its square root divides
            raise _fail(
                path,
                f"tensor {name} holds negative variances, which predict NaN; "
                "retrain the model or restore the file",
            )
    try:
        model = Sequential.from_config(header["architecture"])
        model.set_state(tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the recorded architecture does not match the weights: {exc}") from None
    return LoadedModel(
        model=model,
        training=header.get("training") or {},
        history=header.get("history") or {},
        metrics=header.get("metrics") or {},
        digitnet_version=header.get("digitnet_version", ""),
        created=header.get("created", ""),
        path=path,
    )


def _check_format(path: Path, header: Any) -> None:
    """The header is a digitnet model's, in a format version this digitnet reads."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _fail(
            path,
            f"the header does not describe a digitnet model (its format is not {FORMAT!r}); "
            "the file was damaged or is not digitnet's: retrain or restore it",
        )
    version = header.get("format_version")
    if not is_integer(version, 1):
        shown = reprlib.repr(version)  # cut short: a crafted header may put megabytes here
        raise _fail(
            path,
            f"{shown} is not a valid format version (digitnet writes the integer {FORMAT_VERSION}); "
            "the file was damaged or edited: retrain or restore it",
        )
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"model format version {reprlib.repr(version)} is newer than this digitnet understands "
            f"({FORMAT_VERSION}); upgrade digitnet",
        )


def _read_tensors(path: Path, container: Container) -> dict[str, np.ndarray]:
    """Every tensor, read by safetensors now that the header has been checked; the names and shapes
    must still be the checked ones (the file could have been replaced in between)."""
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:  # safetensors raises its own error types, or OSError, for bad files
        raise _fail(
            path, f"not a readable model file (truncated, corrupted or another format): {exc}"
        ) from None
    read = {name: a.shape for name, a in tensors.items()}
    if read != {name: e.shape for name, e in container.tensors.items()}:
        raise _fail(path, "the file changed while it was being read; load it again")
    return tensors
