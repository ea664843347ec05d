"""``digitnet report MODEL``: an HTML report card of a model, with the numbers behind it as JSON."""

from __future__ import annotations

from pathlib import Path

from digitnet.cli.modelpath import MODEL_HELP, OneModel, bundled_name, resolve_model
from digitnet.cli.options import add_data_option, output_folder
from digitnet.cli.output import format_table, percent, print_json
from digitnet.cli.outputs import claimed_output_dir, save_or_rescue
from digitnet.data import find_mnist_dir
from digitnet.errors import OutputError
from digitnet.modelfile import load_model


def add_parser(commands) -> None:
    p = commands.add_parser(
        "report",
        help="write an HTML report of a model: curves, neurons, mistakes, calibration",
        description="Analyse a saved model on the MNIST test digits and write a self-contained HTML page "
        "(index.html, with PNG figures beside it) and report.json: training curves, first-layer neurons, "
        "confusion matrix and mistakes, probabilities, and calibration before and after temperature "
        "scaling (the temperature is fitted on the validation split, the last 10,000 training images).",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument(
        "--out",
        type=output_folder,
        metavar="DIR",
        help="output folder (default: a folder named report beside MODEL; runs/reports/NAME for a "
        "bundled model)",
    )
    add_data_option(p)
    p.add_argument("--json", action="store_true", help="print report.json's contents on stdout")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from digitnet.report.build import (  # here: matplotlib would slow every other command
        build_report,
        default_out,
    )

    model_path = resolve_model(args.model)
    load_model(model_path)  # a bad model file is refused before any folder is made
    find_mnist_dir(args.data)  # and so is a bad $DIGITNET_DATA
    name = bundled_name(model_path)
    if args.out:
        out, label = Path(args.out), None
    elif name is not None:  # never write into the installed package
        out, label = Path("runs") / "reports" / name, None
    else:
        out = default_out(model_path)
        label = f"the report folder {out} (beside the model; choose another with --out)"
    with claimed_output_dir(out, label):  # a failed report leaves no empty folder behind

        def build(folder: Path) -> dict:
            return build_report(model_path, folder, data_dir=args.data, progress=not args.no_progress)

        # A failed write loses figures that are quick to redraw: the report is rebuilt in the rescue folder.
        report, _, rescued = save_or_rescue(build, out, "report", "the report", errors=(OSError, OutputError))
        if args.json:
            print_json(report)
        else:
            print(_summary(report))
        if rescued is not None:
            raise rescued
        return 0


def _summary(report: dict) -> str:
    cal, test = report["calibration"], report["test"]
    rows = [
        ("test accuracy", f"{percent(test['accuracy'])} ({test['errors']:,} of {test['examples']:,} wrong)"),
        ("temperature T", f"{cal['temperature']:.4f} (fitted on the validation split)"),
        ("test ECE", f"{percent(cal['before']['ece'])} before, {percent(cal['after']['ece'])} after scaling"),
        ("report", f"{report['out']}/index.html"),
        ("numbers", f"{report['out']}/report.json"),
    ]
    text = format_table(("result", ""), rows, align="<<")
    if cal["validation_overlap_with_training"]:
        text += (
            f"\n\nnote: the model was trained on {cal['validation_overlap_with_training']:,} of the "
            "validation images, so the fitted temperature is biased (see the report's calibration section)"
        )
    return text
