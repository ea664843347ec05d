"""``digitnet gradcheck``: check backpropagation against finite differences on a small random network."""

from __future__ import annotations

import argparse

import numpy as np

from digitnet.cli.output import format_table, print_json
from digitnet.cli.train import hidden_sizes
from digitnet.config import HIDDEN_ACTIVATIONS
from digitnet.nn import ACTIVATIONS, COSTS, Dense, Dropout, Sequential
from digitnet.nn.gradcheck import check_gradients


def add_parser(commands) -> None:
    p = commands.add_parser(
        "gradcheck",
        help="check every gradient of a small random network against finite differences",
        description="Build a small random network, compute every gradient by backpropagation and by "
        "central finite differences in float64, and print their relative error per parameter array. "
        "Correct gradients agree to about 1e-9; the check fails above --tolerance.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--hidden", type=hidden_sizes, default=(8, 6), metavar="SIZES", help="hidden layer sizes")
    p.add_argument("--inputs", type=int, default=12, help="input features")
    p.add_argument("--classes", type=int, default=4, help="output classes")
    p.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid")
    p.add_argument("--cost", choices=sorted(COSTS), default="cross-entropy")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate after each hidden layer")
    p.add_argument("--l2", type=float, default=0.0, help="include an L2 penalty λ")
    p.add_argument("--batch", type=int, default=5, help="examples in the checked batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest acceptable relative error")
    p.add_argument("--json", action="store_true", help="print the errors as one JSON object on stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    for name in ("inputs", "classes", "batch"):
        if getattr(args, name) < 1 or (name == "classes" and args.classes < 2):
            raise ValueError(
                f"--{name} must be at least {2 if name == 'classes' else 1}, got {getattr(args, name)}"
            )
    act = ACTIVATIONS[args.activation]
    layers = []
    for units in args.hidden:
        layers += [Dense(units), act()] + ([Dropout(args.dropout)] if args.dropout else [])
    layers.append(Dense(args.classes))
    if args.cost == "quadratic":
        layers.append(act())
    net = Sequential(layers, cost=args.cost, input_shape=(args.inputs,), rng=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    x = rng.standard_normal((args.batch, args.inputs))
    y = rng.integers(0, args.classes, args.batch)
    errors = check_gradients(net, x, y, l2=args.l2)
    shapes = {**{k: v.shape for k, v in net.named_params().items()}, "input": x.shape}
    worst = max(errors.values())
    ok = worst <= args.tolerance
    if args.json:
        print_json({"errors": errors, "max_error": worst, "tolerance": args.tolerance, "passed": ok,
                    "network": net.config()})  # fmt: skip
    else:
        print(net.summary() + "\n")
        rows = [(name, "x".join(map(str, shapes[name])), f"{err:.2e}", "ok" if err <= args.tolerance else "FAIL")
                for name, err in errors.items()]  # fmt: skip
        print(format_table(("gradient of", "shape", "relative error", ""), rows, align="<>><"))
        print(
            f"\n{'passed' if ok else 'FAILED'}: largest relative error {worst:.2e} (tolerance {args.tolerance:g})"
        )
    return 0 if ok else 1
