"""How fast, and in how little memory, crafted model files are refused; prints one line per file.

Each file is the bundled default model (``784-100-10``, 330 kB) with its digitnet header edited and its
checksum recomputed, as anyone can: ``Dense`` units of 10^6 and 10^12, JSON nested 100,000 deep, history,
metrics and format version of the wrong type, a NaN weight. Before the loader checked its input, the
10^6-unit file took 37 s and 9.3 GB before its error. The peak is Python's and NumPy's allocations
during ``load_model``, measured with tracemalloc. A benchmark, not a test: times depend on the machine.

    python benchmarks/hostile_model_files.py
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import safetensors.numpy

from digitnet.errors import ModelFileError
from digitnet.modelfile import content_digest, load_model

DEFAULT = Path(__file__).resolve().parents[1] / "src" / "digitnet" / "models" / "default.safetensors"


def rewrite(source: Path, target: Path, edit_header=None, edit_tensors=None, raw=None) -> Path:
    """Copy ``source`` to ``target`` with its digitnet header (a dict) and tensors edited, and the
    checksum recomputed; or, with ``raw``, the digitnet metadata string replaced as is."""
    tensors = safetensors.numpy.load_file(source)
    with safetensors.safe_open(source, "numpy") as f:
        header = json.loads(f.metadata()["digitnet"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        edit_header(header)
    header["sha256"] = content_digest(header, tensors)
    text = raw if raw is not None else json.dumps(header)
    target.write_bytes(safetensors.numpy.save(tensors, metadata={"digitnet": text}))
    return target


def units(n):
    def edit(header):
        header["architecture"]["layers"][0]["units"] = n

    return edit


def field(key, value):
    def edit(header):
        header[key] = value

    return edit


def nan_weight(tensors):
    tensors["layers.0.W"][3, 5] = np.nan


def deep_nesting(depth: int) -> bytes:
    """A safetensors file whose own header nests ``depth`` lists deep."""
    blob = b'{"__metadata__":{"digitnet":"{}"},"x":' + b"[" * depth + b"]" * depth + b"}"
    return struct.pack("<Q", len(blob)) + blob


def measure(path: Path) -> tuple[float, float, str]:
    """Seconds and peak MB to load ``path``, and the outcome."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load_model(path)
        outcome = "loaded"
    except ModelFileError as exc:
        outcome = str(exc).split(": ", 1)[1][:110]
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak, outcome


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        d = Path(folder)
        deep = d / "deep-safetensors.safetensors"
        deep.write_bytes(deep_nesting(100_000))
        cases = {
            "bundled default model": DEFAULT,
            "Dense units 10^6": rewrite(DEFAULT, d / "u6.safetensors", units(10**6)),
            "Dense units 10^12": rewrite(DEFAULT, d / "u12.safetensors", units(10**12)),
            "100,000-deep safetensors header": deep,
            "100,000-deep digitnet header": rewrite(
                DEFAULT, d / "deep.safetensors", raw="[" * 100_000 + "]" * 100_000
            ),
            "history of the wrong type": rewrite(DEFAULT, d / "h.safetensors", field("history", [1, 2])),
            "metrics of the wrong type": rewrite(
                DEFAULT, d / "m.safetensors", field("metrics", {"test_accuracy": "x"})
            ),
            'format_version "1"': rewrite(DEFAULT, d / "v.safetensors", field("format_version", "1")),
            "a NaN weight": rewrite(DEFAULT, d / "nan.safetensors", edit_tensors=nan_weight),
        }
        print(f"{'file':34} {'size':>9} {'seconds':>8} {'peak MB':>8}  outcome")
        for name, path in cases.items():
            seconds, peak, outcome = measure(path)
            print(f"{name:34} {path.stat().st_size:>9,} {seconds:>8.4f} {peak:>8.2f}  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
