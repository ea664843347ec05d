"""``digitnet predict MODEL IMAGE...``: read photos or scans of digits and say which digit each shows."""

from __future__ import annotations

import sys

import numpy as np

from digitnet.cli.modelpath import MODEL_HELP, resolve_model
from digitnet.cli.output import percent, print_json
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
    p.set_defaults(run=run)


def run(args) -> int:
    model = load_model(resolve_model(args.model)).model
    results, failures = [], 0
    for path in args.images:
        try:
            prepared = preprocess_file(path)
        except ImageError as exc:
            failures += 1
            results.append({"file": path, "error": str(exc)})
            if not args.json:
                print(f"digitnet predict: error: {exc}", file=sys.stderr)
            continue
        probs = model.predict_proba(prepared.input.reshape(1, -1))[0]  # (784,) -> (1, 784) -> (10,)
        digit = int(probs.argmax())
        results.append(
            {
                "file": path,
                "digit": digit,
                "confidence": float(probs[digit]),
                "probabilities": [round(float(p), 6) for p in probs],
            }
        )
        if not args.json:
            print(f"{path}: {digit} ({percent(probs[digit], 1)} sure)")
            print("   " + "  ".join(f"{d}:{100 * p:5.1f}%" for d, p in enumerate(probs)))
            if args.show:
                print(as_text(prepared.input))
    if args.json:
        print_json({"model": args.model, "predictions": results})
    return 1 if failures else 0


def as_text(image: np.ndarray) -> str:
    """A 28x28 image in [0, 1] drawn with characters, two per pixel so it keeps its shape."""
    levels = np.minimum((image * len(SHADES)).astype(int), len(SHADES) - 1)
    return "\n".join("   " + "".join(SHADES[v] * 2 for v in row) for row in levels)
