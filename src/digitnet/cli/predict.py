"""``digitnet predict MODEL IMAGE...``: read photos or scans of digits and say which digit each shows."""

from __future__ import annotations

import sys

import numpy as np

from digitnet.cli.modelpath import MODEL_HELP, resolve_model
from digitnet.cli.options import unit_interval
from digitnet.cli.output import error_line, percent, print_json, printable
from digitnet.confidence import (
    FALLBACK_MIN_CONFIDENCE,
    calibrated_probabilities,
    recorded_min_confidence,
    verdicts,
)
from digitnet.errors import ImageError
from digitnet.imaging import preprocess_file
from digitnet.modelfile import load_model

SHADES = " .:-=+*#%@"


def add_parser(commands) -> None:
    p = commands.add_parser(
        "predict",
        help="recognise the digit in PNG or JPEG images",
        description="Recognise the digit in each image: a photo, scan or drawing of one digit at any size, "
        "dark ink on light paper or light on dark. Each is prepared as MNIST's digits were: grayscale, "
        "inverted if needed, cropped to the ink, scaled to fit 20x20, centred by mass in 28x28.",
    )
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    p.add_argument("--show", action="store_true", help="also draw the 28x28 input the network sees, as text")
    p.add_argument(
        "--min-confidence",
        type=unit_interval("--min-confidence"),
        metavar="P",
        help="say 'not sure' (and name the two likeliest digits) when the answer's probability is below P, "
        "0 to 1; 0 always answers (default: the threshold the model file records, chosen by `digitnet "
        f"calibrate` on drawn digits, else {FALLBACK_MIN_CONFIDENCE})",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    loaded = load_model(resolve_model(args.model))
    model, temperature = loaded.model, float(loaded.metrics.get("temperature", 1.0))
    threshold = (
        args.min_confidence if args.min_confidence is not None else recorded_min_confidence(loaded.metrics)
    )
    results, failures = [], 0
    for path in args.images:
        try:
            prepared = preprocess_file(path)
        except ImageError as exc:
            failures += 1
            results.append({"file": path, "error": str(exc)})
            if not args.json:
                print(error_line("predict", exc), file=sys.stderr)
            continue
        x = prepared.input.reshape(1, -1)  # (28, 28) -> (1, 784)
        probs = calibrated_probabilities(model, x, temperature)[0]  # (10,)
        verdict = verdicts(probs[None], threshold)[0]
        results.append(
            {
                "file": path,
                **verdict,
                "min_confidence": threshold,
                "probabilities": [round(float(p), 6) for p in probs],
            }
        )
        if not args.json:
            print(printable(f"{path}: {said(verdict)}"))
            print("   " + "  ".join(f"{d}:{100 * p:5.1f}%" for d, p in enumerate(probs)))
            if args.show:
                print(as_text(prepared.input))
    if args.json:
        print_json({"model": args.model, "predictions": results})
    return 1 if failures else 0


def said(verdict: dict) -> str:
    """``7 (98.1% sure)``, or ``not sure: 0 or 8? (0 54.1%, 8 40.2%)`` below the threshold."""
    digit, second = verdict["digit"], verdict["runner_up"]
    if verdict["sure"]:
        return f"{digit} ({percent(verdict['confidence'], 1)} sure)"
    return (
        f"not sure: {digit} or {second}? ({digit} {percent(verdict['confidence'], 1)}, "
        f"{second} {percent(verdict['runner_up_confidence'], 1)})"
    )


def as_text(image: np.ndarray) -> str:
    """A 28x28 image in [0, 1] drawn with characters, two per pixel so it keeps its shape."""
    levels = np.minimum((image * len(SHADES)).astype(int), len(SHADES) - 1)
    return "\n".join("   " + "".join(SHADES[v] * 2 for v in row) for row in levels)
