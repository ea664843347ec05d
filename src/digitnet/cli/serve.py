"""``digitnet serve [MODEL...]``: the prediction API on 127.0.0.1, with the bundled models by default."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path


def add_parser(commands) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the prediction API on this machine (works with no dataset)",
        description="Serve the prediction API (POST /api/predict, GET /api/models, GET /api/health) and "
        "the drawing page at / on 127.0.0.1. /docs describes the API (a self-contained page, works offline), "
        "/openapi.json is its OpenAPI document. The models bundled with digitnet are always available: "
        "'default' (784-100-10) and 'lenet5' (a LeNet-5 style CNN); model files given here are served too, "
        "by file name. Other web pages cannot call the API (403) unless allowed with --allow-origin.",
    )
    p.add_argument("models", metavar="MODEL", nargs="*", help="model files written by `digitnet train`")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--allow-origin", type=origin, action="append", default=[], metavar="URL",
        help="also answer requests from web pages at this origin, scheme://host[:port] such as "
        "http://localhost:3000; repeatable (default: only the server's own pages, and clients that are "
        "not browsers)",
    )  # fmt: skip
    p.set_defaults(run=run)


def origin(text: str) -> str:
    """``--allow-origin``: ``"HTTP://LocalHost:3000"`` -> ``"http://localhost:3000"``, or a clear error."""
    from digitnet.serve.api import parse_origin

    try:
        return parse_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args) -> int:
    import uvicorn

    from digitnet.modelfile import load_model
    from digitnet.models import bundled_models
    from digitnet.serve import create_app

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1 to 65535, got {args.port}")
    models = {name: load_model(path) for name, path in bundled_models().items()}  # default and lenet5
    for path in args.models:
        name = Path(path).stem if Path(path).name != "model.safetensors" else Path(path).parent.name
        while name in models:
            name += "+"
        models[name] = load_model(path)
    default = next(reversed(models)) if args.models else "default"  # the last one given, or the MLP
    with socket.socket() as probe:  # say clearly that the port is taken, before uvicorn's log does
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise ValueError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port"
            ) from None
    print(f"digitnet serving {len(models)} model(s) ({', '.join(models)}; default {default!r}) at "
          f"http://{args.host}:{args.port}  (API: http://{args.host}:{args.port}/docs; Ctrl-C stops)", flush=True)  # fmt: skip
    app = create_app(models, default, allowed_origins=args.allow_origin)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
