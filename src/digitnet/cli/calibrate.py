"""``digitnet calibrate MODEL --out FILE``: fit a temperature and a "not sure" threshold on drawn digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.output import percent, printable
from digitnet.cli.outputs import checked_output_file
from digitnet.confidence import SET_ASIDE, calibrate
from digitnet.imaging.sketches import sketch_inputs
from digitnet.modelfile import load_model, save_model

SKETCHES_PER_STYLE = 40
"""Drawn digits per (digit, style) to calibrate on: 17 styles, 680 digits, about 3 s to draw."""

CALIBRATION_SEED = 2026
"""The writers of the calibration sketches; the tests and benchmarks draw theirs with other seeds."""


def add_parser(commands) -> None:
    p = commands.add_parser(
        "calibrate",
        help="fit a model's confidence and its 'not sure' threshold on digits drawn with the page's pen",
        description="Write a copy of MODEL that answers with calibrated probabilities and says 'not sure' "
        "at the right confidence. On digits drawn stroke by stroke with the drawing page's pen in every "
        "style of digitnet.imaging.sketches (slashed zeros, flagged 1s, crossed 7s, ...; never MNIST), "
        "it fits a temperature T (probabilities softmax(z / T)) and sets the threshold below which "
        f"{SET_ASIDE:.0%} of the right answers fall. predict, serve and the API then use both.",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument("--out", metavar="FILE", required=True, help="the calibrated model file to write")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it already exists")
    p.set_defaults(run=run)


def run(args) -> int:
    source = resolve_model(args.model)
    loaded = load_model(source)
    out = Path(args.out)
    checked_output_file(out, overwrite=args.overwrite, name="model.safetensors")
    x, y, _ = sketch_inputs(SKETCHES_PER_STYLE, np.random.default_rng(CALIBRATION_SEED))
    found = calibrate(loaded.model, x, y)
    metrics = {**loaded.metrics, **found}
    save_model(out, loaded.model, training=loaded.training, history=loaded.history, metrics=metrics)
    print(
        printable(
            f"wrote {out}: temperature {found['temperature']:.3f}, not sure below "
            f"{percent(found['min_confidence'], 1)} confidence; on {found['calibration_examples']} drawn "
            f"digits it is right {percent(found['calibration_accuracy'], 1)}, and the threshold sets aside "
            f"{percent(found['wrong_caught'], 0)} of its wrong answers and "
            f"{percent(found['right_set_aside'], 1)} of its right ones"
        )
    )
    return 0
