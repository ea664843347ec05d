"""``digitnet export MODEL --format onnx``: a model as a file other tools run (ONNX Runtime, ...)."""

from __future__ import annotations

from pathlib import Path

from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.output import printable
from digitnet.cli.outputs import checked_output_file
from digitnet.interop.onnx_export import INPUT_NAME, OUTPUT_NAME, export_onnx
from digitnet.modelfile import load_model

FORMATS = ("onnx",)


def add_parser(commands) -> None:
    p = commands.add_parser(
        "export",
        help="write a model as an ONNX file, for ONNX Runtime and other tools",
        description="Write a model as an ONNX file (needs the extra: pip install 'digitnet[onnx]'). The "
        f"graph takes {INPUT_NAME!r}: float32 (N, 784) pixels, or (N, 1, 28, 28) images for a CNN, grey "
        f"levels in [0, 1] with 1 the ink; it returns {OUTPUT_NAME!r} (N, 10). The architecture, training "
        "settings and test accuracy go into the file's metadata.",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="the file format")
    p.add_argument("--out", metavar="FILE", help="the file to write (default: MODEL's name + .onnx)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it already exists")
    p.set_defaults(run=run)


def run(args) -> int:
    source = resolve_model(args.model)
    loaded = load_model(source)
    stem = source.parent.name if source.name == "model.safetensors" else source.stem
    out = Path(args.out) if args.out else Path(f"{stem}.onnx")
    checked_output_file(out, overwrite=args.overwrite, name=f"{stem}.onnx")
    export_onnx(loaded.model, out, training=loaded.training, metrics=loaded.metrics)
    shape = ", ".join(map(str, loaded.model.input_shape))
    print(
        printable(
            f"wrote {out} ({out.stat().st_size / 1e3:,.0f} kB): {INPUT_NAME} (N, {shape}) -> "
            f"{OUTPUT_NAME} (N, {loaded.model.n_classes}); checked with onnx.checker"
        )
    )
    return 0
