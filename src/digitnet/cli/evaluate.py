"""``digitnet evaluate MODEL``: test accuracy, per-class precision and recall, confusion matrix."""

from __future__ import annotations

from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.options import add_data_option
from digitnet.cli.output import format_table, percent, print_json
from digitnet.data import load_mnist
from digitnet.metrics import classification_report
from digitnet.modelfile import load_model


def add_parser(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="score a saved model on the 10,000 MNIST test digits",
        description="Score a saved model on the 10,000 MNIST test digits: accuracy, per-class precision "
        "and recall, and the confusion matrix (rows: true digit, columns: predicted digit).",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    add_data_option(p)
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    loaded = load_model(resolve_model(args.model))
    test = load_mnist(args.data, validation_size=0, progress=not args.no_progress).test
    model = loaded.model
    report = classification_report(test.y, model.predict(test.x), model.n_classes)
    report["loss"] = model.evaluate(test.x, test.y)["loss"]
    report["model"] = str(args.model)
    report["examples"] = len(test)
    if args.json:
        print_json(report)
        return 0
    print(
        f"{args.model}: test accuracy {percent(report['accuracy'])} "
        f"({report['errors']:,} of {len(test):,} wrong), mean cost {report['loss']:.4f}\n"
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
