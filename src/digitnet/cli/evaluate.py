"""``digitnet evaluate MODEL``: accuracy, per-class precision and recall, confusion matrix and what saying
"not sure" gives, on MNIST's test digits or on drawn ones (``--digits``)."""

from __future__ import annotations

from digitnet.checks import check_digit_reader
from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.options import add_data_option
from digitnet.cli.output import format_table, percent, print_json
from digitnet.confidence import calibrated_probabilities, recorded_min_confidence
from digitnet.data import load_mnist
from digitnet.data.drawn import DRAWN_SETS, drawn_digits
from digitnet.metrics import classification_report
from digitnet.modelfile import load_model
from digitnet.report.reject import selective_record

CONFIDENT = 0.9  # "sure and wrong": a wrong answer above this probability


def add_parser(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="score a saved model on the 10,000 MNIST test digits, or on drawn digits",
        description="Score a saved model on the 10,000 MNIST test digits (or on drawn digits, --digits): "
        "accuracy, per-class precision and recall, the confusion matrix (rows: true digit, columns: "
        "predicted digit), and at the model's 'not sure' threshold the share of its errors it catches "
        "and of its right answers it sets aside.",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument(
        "--digits",
        choices=("mnist", *DRAWN_SETS),
        default="mnist",
        help="mnist: MNIST's 10,000 test digits; pendigits: 2,498 digits 10 people drew with a pen (UCI pen "
        "digits, writers 21-30, drawn with the page's pen; downloaded on first use, or read from "
        "$DIGITNET_PENDIGITS); sketches: 680 digits a program drew in every writing style",
    )
    add_data_option(p)
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    loaded = load_model(resolve_model(args.model))
    check_digit_reader(loaded.model, args.model)  # MNIST and drawn digits alike: 784 pixels, 10 classes
    if args.digits == "mnist":
        test = load_mnist(args.data, validation_size=0, progress=not args.no_progress).test
        x, y, described = test.x, test.y, "MNIST's 10,000 test digits"
    else:
        x, y, described = drawn_digits(args.digits, progress=not args.no_progress)
    model = loaded.model
    probabilities = calibrated_probabilities(model, x, float(loaded.metrics.get("temperature", 1.0)))
    report = classification_report(y, probabilities.argmax(axis=1), model.n_classes)
    report["loss"] = model.evaluate(x, y)["loss"]
    report["model"] = str(args.model)
    report["digits"] = args.digits
    report["examples"] = len(y)
    reject = selective_record(probabilities, y, recorded_min_confidence(loaded.metrics))
    wrong = probabilities.argmax(axis=1) != y
    reject["wrong_above_0.9"] = (
        float((probabilities.max(axis=1)[wrong] > CONFIDENT).mean()) if wrong.any() else 0.0
    )
    del reject["curve"]
    report["not_sure"] = reject
    if args.json:
        print_json(report)
        return 0
    print(
        f"{args.model} on {described}: accuracy {percent(report['accuracy'])} "
        f"({report['errors']:,} of {len(y):,} wrong), mean cost {report['loss']:.4f}\n"
        f"saying 'not sure' below {percent(reject['threshold'], 1)} confidence: answers "
        f"{percent(reject['coverage'], 1)}, catches {percent(reject['errors_caught'], 1)} of the errors, "
        f"sets aside {percent(reject['right_set_aside'], 1)} of the right answers; "
        f"{percent(reject['wrong_above_0.9'], 1)} of the wrong answers are above {CONFIDENT:.0%} sure\n"
    )
    rows = [
        (c["class"], percent(c["precision"]), percent(c["recall"]), c["support"]) for c in report["per_class"]
    ]
    print(format_table(("digit", "precision", "recall", "examples"), rows, align=">>>>"))
    print("\nconfusion matrix (rows: true digit, columns: predicted)")
    m = report["confusion_matrix"]
    print(
        format_table(
            ("true", *map(str, range(len(m)))),
            [(t, *row) for t, row in enumerate(m)],
            align=">" * (len(m) + 1),
        )
    )
    return 0
