"""A training run's two files, ``model.safetensors`` and ``metrics.json``, which can never be paired wrongly.

``metrics.json`` records the model file's content checksum: the ``sha256`` of its digitnet header
(:mod:`digitnet.modelfile`), which covers every weight and record in it. :func:`write_run` writes the
model, then the metrics; a run killed between the two saves (or whose second save fails) leaves a new
model beside the old ``metrics.json``, which names the old model's checksum, so :func:`read_record`,
which checks a ``metrics.json`` against the model beside it before its settings are used, refuses the
pair. Nothing already saved is deleted before the new files are complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from digitnet.atomic import atomic_write
from digitnet.errors import DigitnetError, ModelFileError
from digitnet.files import read_bounded
from digitnet.modelfile import read_header, save_model
from digitnet.modelfile.container import load_bounded_json
from digitnet.nn.model import Sequential

__all__ = ["METRICS_FILE", "MODEL_FILE", "read_record", "write_run"]

MODEL_FILE, METRICS_FILE = "model.safetensors", "metrics.json"

MAX_RECORD_BYTES = 64_000_000
"""Largest ``metrics.json`` read: a record with a history of 100,000 epochs is a few megabytes."""


def write_run(
    folder: Path, model: Sequential, *, training: dict, history: dict, metrics: dict
) -> tuple[Path, Path]:
    """Write ``model.safetensors`` and then ``metrics.json`` (recording the model's checksum) into ``folder``.

    An older ``metrics.json`` stays until the new one replaces it: it names its own model's checksum.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The model file and the metrics file.

    Raises
    ------
    OSError
        If a file cannot be written; a metrics.json left beside the new model names another model's
        checksum, which :func:`read_record` refuses.
    """
    model_path, metrics_path = folder / MODEL_FILE, folder / METRICS_FILE
    save_model(model_path, model, training=training, history=history, metrics=metrics)
    record = {
        "model_file": MODEL_FILE,
        "model_sha256": read_header(model_path)["sha256"],
        "metrics": metrics,
        "config": training,
        "history": history,
    }
    _write_record(metrics_path, record)
    return model_path, metrics_path


def _write_record(path: Path, record: dict) -> None:
    with atomic_write(path, "w") as f:
        json.dump(record, f, indent=1)


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read a run's ``metrics.json``, after checking that it belongs to the model file beside it, if any.

    The check compares the recorded ``model_sha256`` with the model's checksum; a record from before
    checksums were recorded is compared by its training settings and results instead.

    Raises
    ------
    ValueError
        If the file cannot be read, is not a JSON object, or does not belong to the model beside it.
    """
    path = Path(path)
    try:
        record = load_bounded_json(read_bounded(path, what=f"run's {METRICS_FILE}", limit=MAX_RECORD_BYTES))
    except (DigitnetError, ValueError) as exc:  # a FIFO, a folder, too large, too deep, not JSON
        raise ValueError(f"cannot read training settings from {path}: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a run's {METRICS_FILE}: it holds no JSON object")
    model_path = path.parent / MODEL_FILE
    if not model_path.is_file():
        return record
    try:
        header = read_header(model_path)
    except ModelFileError as exc:
        raise ValueError(
            f"cannot check {path} against the model beside it: {exc}. Remove or replace that model "
            f"file, or move {path.name} away from it"
        ) from None
    if "model_sha256" in record:
        recorded, actual = str(record["model_sha256"]), header["sha256"]
        if recorded != actual:
            _mismatch(
                path,
                model_path,
                f"it records a model whose checksum starts {recorded[:12]}, this one's starts {actual[:12]}",
            )
    else:  # written before checksums were recorded: compare what both files record
        settings_differ = _canonical(record.get("config")) != _canonical(header.get("training"))
        if settings_differ or _canonical(record.get("metrics")) != _canonical(header.get("metrics")):
            _mismatch(
                path, model_path, "its training settings or results differ from those the model records"
            )
    return record


def _mismatch(path: Path, model_path: Path, detail: str) -> None:
    raise ValueError(
        f"{path} does not belong to the model beside it, {model_path}: {detail}. The run was interrupted "
        f"between its two saves, or one file was replaced. Use --config {model_path} (a model file records "
        f"its own settings), or remove the stale {path.name}"
    )


def _canonical(value: Any) -> str:
    """JSON text that compares equal for equal records, NaN included."""
    return json.dumps(value, sort_keys=True)
