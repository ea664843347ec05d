"""``digitnet gradcheck``: check backpropagation against finite differences on a small random network."""

from __future__ import annotations

import numpy as np

from digitnet.cli.options import integer, setting_value
from digitnet.cli.output import format_table, print_json
from digitnet.nn import COSTS, Sequential
from digitnet.nn.gradcheck import check_gradients
from digitnet.training.network import network_layers
from digitnet.training.settings import HIDDEN_ACTIVATIONS, SETTINGS


def add_parser(commands) -> None:
    p = commands.add_parser(
        "gradcheck",
        help="check every gradient of a small random network against finite differences",
        description="Build a small random network, compute every gradient by backpropagation and by "
        "central finite differences in float64, and print their relative error per parameter array. "
        "Biases and batch norm's parameters start at random values, so no unit sits on a kink. Correct "
        "gradients read 1e-10 to 1e-7, the finite differences' own rounding (see digitnet.nn.gradcheck); "
        "the check fails above --tolerance.",
    )
    p.add_argument(
        "--hidden",
        type=setting_value(SETTINGS["hidden"]),
        default=(8, 6),
        metavar="SIZES",
        help="hidden layer sizes",
    )
    p.add_argument(
        "--inputs", type=integer("--inputs", 1), default=12, metavar="N", help="input features (of an MLP)"
    )
    p.add_argument(
        "--conv",
        type=setting_value(SETTINGS["conv"]),
        default=(),
        metavar="STAGES",
        help="convolutional stages before the dense layers, e.g. 2/3: filters per same-padded convolution, "
        "'/' where 2x2 max-pooling halves the image",
    )
    p.add_argument(
        "--image",
        type=integer("--image", 1),
        default=8,
        metavar="N",
        help="side of the square one-channel input (with --conv)",
    )
    p.add_argument(
        "--kernel-size",
        type=integer("--kernel-size", 1),
        default=3,
        metavar="K",
        help="convolution kernel size (odd)",
    )
    p.add_argument("--batch-norm", action="store_true", help="batch normalisation after every weighted layer")
    p.add_argument("--inference", action="store_true", help="check inference mode (running statistics)")
    p.add_argument("--classes", type=integer("--classes", 2), default=4, metavar="N", help="output classes")
    p.add_argument(
        "--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid", help="hidden-layer activation"
    )
    p.add_argument("--cost", choices=sorted(COSTS), default="cross-entropy", help="cost function")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate after each hidden layer")
    p.add_argument("--l2", type=float, default=0.0, help="include an L2 penalty λ")
    p.add_argument(
        "--batch", type=integer("--batch", 1), default=5, metavar="N", help="examples in the checked batch"
    )
    p.add_argument(
        "--seed",
        type=integer("--seed"),
        default=0,
        metavar="N",
        help="seed of the weights and of the checked batch",
    )
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest acceptable relative error")
    p.add_argument("--json", action="store_true", help="print the errors as one JSON object on stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.conv and (args.image >> len(args.conv)) < 1:
        raise ValueError(f"--image {args.image} is too small for {len(args.conv)} pooling stages")
    if args.kernel_size % 2 == 0:
        raise ValueError(f"--kernel-size must be odd, got {args.kernel_size}")
    layers = network_layers(
        hidden=args.hidden,
        activation=args.activation,
        classes=args.classes,
        conv=args.conv,
        kernel_size=args.kernel_size,
        batch_norm=args.batch_norm,
        dropout=args.dropout,
        output=args.activation if args.cost == "quadratic" else "identity",
    )
    shape = (1, args.image, args.image) if args.conv else (args.inputs,)
    net = Sequential(layers, cost=args.cost, input_shape=shape, rng=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    for name, p in net.named_params().items():  # biases, gamma and beta off their initial 0 and 1, so that
        if not name.endswith(".W"):  # no unit sits exactly on a ReLU's kink when dropout zeroes its inputs
            p += rng.normal(0.0, 0.1, p.shape).astype(p.dtype)
    x = rng.standard_normal((args.batch, *shape))
    y = rng.integers(0, args.classes, args.batch)
    if args.inference and args.batch_norm:  # running statistics away from 0 and 1, as after training
        for _ in range(3):
            net.forward(net.as_input(rng.standard_normal((16, *shape)) * 2 + 1), training=True)
    errors = check_gradients(net, x, y, l2=args.l2, training=not args.inference)
    shapes = {**{k: v.shape for k, v in net.named_params().items()}, "input": x.shape}
    worst = max(errors.values())
    ok = worst <= args.tolerance
    if args.json:
        print_json(
            {
                "errors": errors,
                "max_error": worst,
                "tolerance": args.tolerance,
                "passed": ok,
                "network": net.config(),
            }
        )
    else:
        print(net.summary() + "\n")
        rows = [
            (name, "x".join(map(str, shapes[name])), f"{err:.2e}", "ok" if err <= args.tolerance else "FAIL")
            for name, err in errors.items()
        ]
        print(format_table(("gradient of", "shape", "relative error", ""), rows, align="<>><"))
        print(
            f"\n{'passed' if ok else 'FAILED'}: largest relative error {worst:.2e} "
            f"(tolerance {args.tolerance:g})"
        )
    return 0 if ok else 1
