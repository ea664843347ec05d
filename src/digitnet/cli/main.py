"""``digitnet``: train, evaluate, predict, inspect and gradient-check handwritten-digit networks."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from digitnet.cli import (
    calibrate,
    data,
    evaluate,
    experiment,
    export,
    gradcheck,
    import_onnx,
    info,
    predict,
    report,
    serve,
    sweep,
    train,
)
from digitnet.cli.options import Parser
from digitnet.cli.output import error_line, printable
from digitnet.errors import DigitnetError
from digitnet.version import __version__

COMMANDS = (
    train,
    sweep,
    evaluate,
    predict,
    info,
    export,
    import_onnx,
    gradcheck,
    data,
    experiment,
    report,
    calibrate,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``digitnet`` parser; every command's parser is a :class:`Parser` too, showing real defaults."""
    parser = Parser(
        prog="digitnet",
        description="A neural network that learns to read handwritten digits, from first principles.",
        epilog="Run `digitnet COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (DigitnetError, ValueError) as exc:
        print(error_line(args.command, exc), file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`digitnet info MODEL | head`): stop quietly
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except OSError as exc:  # a file the command could not read or write, said plainly, without a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(error_line(args.command, f"{exc.strerror or exc}{where}"), file=sys.stderr)
        return 1
    except MemoryError as exc:  # NumPy says how much it asked for: a network or batch too large for here
        detail = f" ({exc})" if str(exc) else ""
        print(
            error_line(args.command, f"out of memory{detail}; use a smaller network, batch or image"),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt as exc:  # a command may say what it had done: KeyboardInterrupt("during ...")
        detail = f" {exc}" if str(exc) else ""
        print(printable(f"digitnet {args.command}: interrupted{detail}", lines=True), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
