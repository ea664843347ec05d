"""``digitnet report MODEL``: an HTML report card of a model, with the numbers behind it as JSON."""

from __future__ import annotations

from digitnet.cli.output import format_table, percent, print_json


def add_parser(commands) -> None:
    p = commands.add_parser(
        "report",
        help="write an HTML report of a model: curves, neurons, mistakes, calibration",
        description="Analyse a saved model on the MNIST test digits and write a self-contained HTML page "
        "(index.html, with PNG figures beside it) and report.json: training curves, first-layer neurons, "
        "confusion matrix and mistakes, probabilities, and calibration before and after temperature "
        "scaling (the temperature is fitted on the validation split, the last 10,000 training images).",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by `digitnet train`")
    p.add_argument("--out", metavar="DIR", help="output folder (default: a folder named report beside MODEL)")
    p.add_argument(
        "--data", metavar="DIR", help="folder with the MNIST files (default: $DIGITNET_DATA, then the cache)"
    )
    p.add_argument("--json", action="store_true", help="print report.json's contents on stdout")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from digitnet.report import build_report  # imported here: matplotlib would slow every other command

    report = build_report(args.model, args.out, data_dir=args.data, progress=not args.no_progress)
    if args.json:
        print_json(report)
        return 0
    cal, test = report["calibration"], report["test"]
    rows = [
        ("test accuracy", f"{percent(test['accuracy'])} ({test['errors']:,} of {test['examples']:,} wrong)"),
        ("temperature T", f"{cal['temperature']:.4f} (fitted on the validation split)"),
        ("test ECE", f"{percent(cal['before']['ece'])} before, {percent(cal['after']['ece'])} after scaling"),
        ("report", f"{report['out']}/index.html"),
        ("numbers", f"{report['out']}/report.json"),
    ]
    print(format_table(("result", ""), rows, align="<<"))
    if cal["validation_overlap_with_training"]:
        print(f"\nnote: the model was trained on {cal['validation_overlap_with_training']:,} of the validation "
              "images, so the fitted temperature is biased (see the report's calibration section)")  # fmt: skip
    return 0
