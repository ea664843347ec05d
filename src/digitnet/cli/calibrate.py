"""``digitnet calibrate MODEL --out FILE``: fit a temperature and a "not sure" threshold on drawn digits."""

from __future__ import annotations

from pathlib import Path

from digitnet.checks import check_digit_reader
from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.output import percent, printable
from digitnet.cli.outputs import checked_output_file
from digitnet.confidence import SET_ASIDE, calibrate
from digitnet.data.drawn import DRAWN_SETS, drawn_digits
from digitnet.modelfile import load_model, save_model


def add_parser(commands) -> None:
    p = commands.add_parser(
        "calibrate",
        help="fit a model's confidence and its 'not sure' threshold on digits drawn with the page's pen",
        description="Write a copy of MODEL that answers with calibrated probabilities and says 'not sure' "
        "at the right confidence. On drawn digits (never MNIST), drawn stroke by stroke with the drawing "
        "page's pen, it fits a temperature T (probabilities softmax(z / T), T >= 1) and sets the threshold "
        f"below which {SET_ASIDE:.0%} of the right answers fall. predict, serve and the API then use both.",
    )
    p.add_argument(
        "--digits",
        choices=DRAWN_SETS,
        default=DRAWN_SETS[0],
        help="pendigits: 2,498 digits that 10 people drew with a pen (UCI pen digits, writers 21-30; "
        "downloaded on first use, or read from $DIGITNET_PENDIGITS); sketches: 680 digits a program drew "
        "in every style (slashed zeros, flagged 1s, crossed 7s...), offline but easier than people's",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument("--out", metavar="FILE", required=True, help="the calibrated model file to write")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it already exists")
    p.set_defaults(run=run)


def run(args) -> int:
    source = resolve_model(args.model)
    loaded = load_model(source)
    check_digit_reader(loaded.model, source)
    out = Path(args.out)
    checked_output_file(out, overwrite=args.overwrite, name="model.safetensors")
    x, y, described = drawn_digits(args.digits, progress=not args.no_progress)
    found = {**calibrate(loaded.model, x, y), "calibration_digits": args.digits}
    metrics = {**loaded.metrics, **found}
    save_model(out, loaded.model, training=loaded.training, history=loaded.history, metrics=metrics)
    print(
        printable(
            f"wrote {out}: temperature {found['temperature']:.3f}, not sure below "
            f"{percent(found['min_confidence'], 1)} confidence; on {described} it is right "
            f"{percent(found['calibration_accuracy'], 2)}, and the threshold sets aside "
            f"{percent(found['wrong_caught'], 0)} of its wrong answers and "
            f"{percent(found['right_set_aside'], 1)} of its right ones"
        )
    )
    return 0
