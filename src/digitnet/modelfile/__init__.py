"""Model files: architecture, training settings, weights, history and version in one safe file.

The format is safetensors (a JSON header followed by raw little-endian arrays): loading it parses data
and never runs code, unlike pickle. digitnet's own header sits in the safetensors metadata under the key
``"digitnet"`` as JSON::

    {"format": "digitnet-model", "format_version": 1, "digitnet_version": "0.1.0",
     "architecture": {...Sequential.config()...}, "training": {...TrainConfig...},
     "history": {...}, "metrics": {...}, "created": "2026-11-22T19:45:00+00:00",
     "sha256": "..."}

``sha256`` covers the rest of the header and every array's name, dtype, shape and bytes, so a damaged
weight or architecture is caught even though safetensors itself has no checksum. It detects damage only:
anyone can recompute it, so :func:`load_model` checks every field for type and range, and the
architecture against the declared tensors, before it allocates anything (one submodule each:
``container``, ``records``, ``architecture``; saving and loading themselves in ``model_file``). Writes
go to a temporary file that replaces the target only once complete, so a crash never leaves half a
model under the final name.
"""

from digitnet.modelfile.model_file import (
    FORMAT,
    FORMAT_VERSION,
    LoadedModel,
    content_digest,
    load_model,
    read_header,
    save_model,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LoadedModel",
    "content_digest",
    "load_model",
    "read_header",
    "save_model",
]
