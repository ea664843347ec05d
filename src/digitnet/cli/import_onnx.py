"""``digitnet import FILE.onnx --out model.safetensors``: a network trained elsewhere as a digitnet model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from digitnet.cli.output import printable
from digitnet.cli.outputs import checked_output_file
from digitnet.errors import ModelFileError
from digitnet.interop.onnx_import import SUPPORTED_OPS, import_onnx
from digitnet.modelfile import load_model, save_model
from digitnet.modelfile.records import check_records


def add_parser(commands) -> None:
    p = commands.add_parser(
        "import",
        help="turn an ONNX file (from PyTorch, digitnet, ...) into a digitnet model file",
        description="Read an ONNX network (needs the extra: pip install 'digitnet[onnx]') and save it as a "
        "digitnet model file, which evaluate, predict, report and serve then use. The graph must be a "
        "chain of these operators: " + ", ".join(SUPPORTED_OPS) + "; taking 28x28 digits, flat or as "
        "(N, 1, 28, 28) images, to 10 class scores.",
    )
    p.add_argument("onnx_file", metavar="FILE.onnx", help="the ONNX file")
    p.add_argument("--out", metavar="FILE", help="the model to write (default: FILE's name + .safetensors)")
    p.add_argument("--overwrite", action="store_true", help="replace the model file if it already exists")
    scaling = p.add_mutually_exclusive_group()
    scaling.add_argument(
        "--input-range",
        type=number_pair("--input-range", "LOW,HIGH"),
        metavar="LOW,HIGH",
        help="the graph's input where digitnet's pixels are 0 (background) and 1 (ink): 0,255 for a network "
        "trained on bytes (default: 0,1, or 0,255 for a graph that divides its input by 255 itself)",
    )
    scaling.add_argument(
        "--normalize",
        type=number_pair("--normalize", "MEAN,STD"),
        metavar="MEAN,STD",
        help="the graph expects (x - MEAN) / STD of [0, 1] pixels, as PyTorch's Normalize((MEAN,), (STD,)): "
        "0.1307,0.3081 for MNIST's usual statistics, 0.5,0.5 for [-1, 1]",
    )
    p.set_defaults(run=run)


def number_pair(flag: str, form: str):
    """``"0,255"`` -> (0.0, 255.0) for ``flag``, or a clear error naming the form."""

    def parse(text: str) -> tuple[float, float]:
        parts = text.split(",")
        try:
            low, high = (float(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes two numbers, {form}, got {text!r}") from None
        if (
            not (math.isfinite(low) and math.isfinite(high))
            or low == high
            or flag == "--normalize"
            and high <= 0
        ):
            rule = "STD must be above 0" if flag == "--normalize" else "LOW and HIGH must differ"
            raise argparse.ArgumentTypeError(f"{flag} {text}: {rule} and both be finite")
        return low, high

    return parse


def input_range(args) -> tuple[float, float] | None:
    """What the graph's input is where digitnet's pixels are 0 and 1; None: as the graph says."""
    if args.normalize is not None:
        mean, std = args.normalize
        return -mean / std, (1.0 - mean) / std
    return args.input_range


def run(args) -> int:
    source = Path(args.onnx_file)
    out = Path(args.out) if args.out else Path(f"{source.stem}.safetensors")
    checked_output_file(out, overwrite=args.overwrite, name="model.safetensors")
    imported = import_onnx(source, input_range=input_range(args))
    model = imported.model
    if math.prod(model.input_shape) != 784 or model.n_classes != 10:
        raise ModelFileError(
            f"{source}: the network takes {model.input_shape} inputs to {model.n_classes} classes; "
            "digitnet's commands read 28x28 digits (784 pixels) into the classes 0 to 9"
        )
    training, metrics = _checked_records(source, imported.training, imported.metrics)
    metrics = {**metrics, "imported_from": source.name, "parameters": model.n_params}
    _save_what_loads(out, model, training, metrics, source)
    print(printable(f"wrote {out}: {model!r}, imported from {source}"))
    print(model.summary())
    return 0


def _save_what_loads(out: Path, model, training: dict, metrics: dict, source: Path) -> None:
    """Write the model only if digitnet can read it back: saved beside ``out`` first and loaded with
    every check ``load_model`` makes (sizes, depth, finite weights), then moved into place; a refused
    one leaves nothing behind and ``out`` as it was."""
    trial = out.with_name(f".{out.name}.importing")
    try:
        save_model(trial, model, training=training, metrics=metrics)
        load_model(trial)
        trial.replace(out)
    except ModelFileError as exc:
        reason = str(exc).replace(str(trial), "the model file")
        raise ModelFileError(
            f"{source}: the imported network is not a model digitnet can load: {reason}"
        ) from None
    finally:
        trial.unlink(missing_ok=True)


def _checked_records(source: Path, training: dict, metrics: dict) -> tuple[dict, dict]:
    """The records an exported file carried, if they are what digitnet writes; else none (the weights
    are what matter, and a model file must never hold records that its reader refuses)."""
    try:
        check_records(source, {"training": training, "metrics": metrics})
    except ModelFileError:
        return {}, {}
    return training, metrics
