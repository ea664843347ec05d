"""``digitnet info MODEL``: what a model file holds, without any data."""

from __future__ import annotations

from digitnet import kernels
from digitnet.cli.modelpath import MODEL_HELP, OneModel, resolve_model
from digitnet.cli.output import format_table, percent, print_json, printable
from digitnet.modelfile import load_model
from digitnet.nn import Rescaling


def add_parser(commands) -> None:
    p = commands.add_parser(
        "info",
        help="show a model's architecture, training settings and recorded scores",
        description="Show what a model file holds: architecture, parameter count, how it was trained "
        "and the test accuracy recorded when it was saved. Needs no dataset.",
    )
    p.add_argument("model", metavar="MODEL", nargs="+", action=OneModel, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print everything as one JSON object on stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    loaded = load_model(resolve_model(args.model))
    model = loaded.model
    epochs = loaded.history.get("epochs", [])
    if args.json:
        print_json(
            {
                "model": str(args.model),
                "digitnet_version": loaded.digitnet_version,
                "created": loaded.created,
                "architecture": model.config(),
                "parameters": model.n_params,
                "training": loaded.training,
                "metrics": loaded.metrics,
                "history": loaded.history,
                "kernels": {"path": kernels.path_name(), "description": kernels.description()},
            }
        )
        return 0
    print(printable(f"{args.model}  (digitnet {loaded.digitnet_version}, saved {loaded.created})") + "\n")
    print(model.summary())
    if loaded.training:
        print("\ntraining settings")
        print(
            format_table(
                ("setting", "value"), [(k, _show(v)) for k, v in loaded.training.items()], align="<<"
            )
        )
    m = loaded.metrics
    rows = []
    for key in (
        "preset",
        "train_examples",
        "epochs_trained",
        "train_seconds",
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
    ):
        if key in m:
            value = m[key]
            rows.append((key.replace("_", " "), percent(value) if key.endswith("accuracy") else _show(value)))
    if m.get("interrupted"):
        rows.append(("interrupted", "yes: the model of the last finished epoch, saved on Ctrl-C"))
    if "temperature" in m:  # digitnet calibrate
        rows.append(("temperature", f"{m['temperature']:.4g} (fitted on {m.get('calibration_digits', '?')})"))
    if "min_confidence" in m:
        rows.append(("not sure below", percent(m["min_confidence"], 1)))
    if "imported_from" in m:  # digitnet import: where it came from, and the input range folded into it
        low, _, high = str(m.get("input_range", "0,1")).partition(",")
        folded = (
            "" if (low, high) == ("0", "1") else f"; its graph took {low}..{high}, folded into its weights"
        )
        rows.append(("imported from", f"{m['imported_from']}{folded}"))
    rows.append(
        ("input", "28x28 pixels in [0, 1], ink bright on black (predict and serve prepare any image so)")
    )
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Rescaling):  # an imported network's own scale, which every command applies
            rows.append(
                (
                    "input transform",
                    f"layer {i} maps them to x·{layer.scale:.6g} {'-+'[layer.offset >= 0]} "
                    f"{abs(layer.offset):.6g}, the scale the network was trained on",
                )
            )
    if rows:
        print("\nrecorded results")
        print(format_table(("result", "value"), rows, align="<<"))
    if epochs:
        print("\nhistory")
        keys = [
            k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds") if k in epochs[0]
        ]
        shown = epochs if len(epochs) <= 12 else [*epochs[:5], None, *epochs[-5:]]
        table = [
            ("...", *([""] * len(keys))) if e is None else (e["epoch"], *(_fmt(k, e[k]) for k in keys))
            for e in shown
        ]
        print(format_table(("epoch", *keys), table, align=">" * (len(keys) + 1)))
    print(f"\nthis process runs it on: {kernels.description()}")
    return 0


def _fmt(key, value):
    if "accuracy" in key:
        return percent(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _show(value):
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
