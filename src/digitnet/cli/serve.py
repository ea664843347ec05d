"""``digitnet serve [MODEL...]``: the prediction API on 127.0.0.1, with the bundled models by default."""

from __future__ import annotations

import argparse
import socket

from digitnet import kernels
from digitnet.cli.modelpath import MODEL_HELP, resolve_model
from digitnet.cli.options import add_data_option, integer, output_folder
from digitnet.modelfile.run_folder import MODEL_FILE


def add_parser(commands) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the prediction API on this machine (works with no dataset)",
        description="Serve the prediction API (POST /api/predict, GET /api/models, GET /api/health) and "
        "the drawing page at / on 127.0.0.1. /docs describes the API (a self-contained page, works offline), "
        "/openapi.json is its OpenAPI document. The models bundled with digitnet are always available: "
        "'cnn' (the default, trained on the writing styles people use), 'mlp' (784-100-10) and 'lenet5' "
        "(a LeNet-5 style CNN); model files and run folders given here "
        "are served too, by file or folder name. Other web pages cannot call the API (403) unless allowed "
        "with --allow-origin, nor can requests for a host name other than localhost, an IP address or "
        "one allowed with --allow-host.",
    )
    p.add_argument(
        "models",
        metavar="MODEL",
        nargs="*",
        help=f"{MODEL_HELP}; served beside the bundled ones, the last one given as the default",
    )
    p.add_argument(
        "--host",
        type=listen_address,
        default="127.0.0.1",
        help="address to listen on (default: this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--port", type=integer("--port", 1, 65535), default=8000, help="port")
    p.add_argument(
        "--allow-origin",
        type=origin,
        action="append",
        default=[],
        metavar="URL",
        help="also answer requests from web pages at this origin, scheme://host[:port] such as "
        "http://localhost:3000; repeatable (default: only the server's own pages, and clients that are "
        "not browsers)",
    )
    p.add_argument(
        "--allow-host",
        type=host,
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to this host name, such as this machine's name on the LAN "
        "with --host 0.0.0.0; repeatable (default: localhost, IP addresses, the --host name and the hosts "
        "of --allow-origin; any other name is refused, which stops DNS rebinding)",
    )
    p.add_argument(
        "--runs",
        type=output_folder,
        default="runs",
        metavar="DIR",
        help="where networks trained in the page's training view (/train) are saved, one run folder each "
        "as digitnet train saves it",
    )
    p.add_argument(
        "--remote-training",
        action="store_true",
        help="let other machines start trainings, keep drawings and fine-tune (by default only this "
        "machine may; anyone may watch)",
    )
    add_data_option(p)
    p.set_defaults(run=run)


def listen_address(text: str) -> str:
    """``--host``: refuses an empty address, which the server would take as every interface."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "--host must name an address: 127.0.0.1 for this machine only, or 0.0.0.0 to listen on every "
            "interface on purpose (an empty one would silently mean every interface)"
        )
    return text.strip()


def origin(text: str) -> str:
    """``--allow-origin``: ``"HTTP://LocalHost:3000"`` -> ``"http://localhost:3000"``, or a clear error."""
    from digitnet.serve.guards import parse_origin

    try:
        return parse_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def host(text: str) -> str:
    """``--allow-host``: ``"MyBox.Local"`` -> ``"mybox.local"``, or a clear error."""
    from digitnet.serve.guards import parse_host

    try:
        return parse_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args) -> int:

    from digitnet.modelfile import load_model
    from digitnet.models import DEFAULT_NAME, bundled_models
    from digitnet.serve import create_app
    from digitnet.serve.connections import server_config

    models = {name: load_model(path) for name, path in bundled_models().items()}  # cnn, mlp, lenet5
    served = {path.resolve(): name for name, path in bundled_models().items()}  # file -> its name
    default = DEFAULT_NAME
    for text in args.models:
        path = resolve_model(text)  # a model file, a run folder or a bundled model's name
        if path.resolve() not in served:  # a file given twice, or a bundled one, is served once
            name = path.stem if path.name != MODEL_FILE else path.resolve().parent.name  # the run folder
            while name in models:
                name += "+"
            models[name], served[path.resolve()] = load_model(path), name
        default = served[path.resolve()]  # the last one given
    hosts = args.allow_host + _listening_name(args.host)
    with socket.socket() as probe:  # say clearly that the port is taken, before uvicorn's log does
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise ValueError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port"
            ) from None
    said = kernels.description()  # decided before the first request: a bad DIGITNET_KERNELS is said here
    print(
        f"digitnet serving {len(models)} model(s) ({', '.join(models)}; default {default!r}) at "
        f"http://{args.host}:{args.port}  (API: http://{args.host}:{args.port}/docs; Ctrl-C stops)",
        flush=True,
    )
    print(f"digitnet: {said}", flush=True)
    app = create_app(
        models,
        default,
        allowed_origins=args.allow_origin,
        allowed_hosts=hosts,
        runs_dir=args.runs,
        data_dir=args.data,
        remote_training=args.remote_training,
    )
    _server_class()(server_config(app, args.host, args.port, log_level="warning")).run()
    return 0


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, which on Ctrl-C first ends the training view's event streams (they would
        hold the graceful shutdown), then stops; the training itself saves its last finished epoch."""

        def handle_exit(self, sig, frame):
            training = getattr(self.config.app.state, "training", None)
            if training is not None:
                training.closing.set()
            super().handle_exit(sig, frame)

    return Server


def _listening_name(address: str) -> list[str]:
    """``--host`` as a name the Host check accepts, e.g. ``["mybox.local"]`` (an IP address passes anyway)."""
    from digitnet.serve.guards import parse_host

    try:
        return [parse_host(address)]
    except ValueError:  # something uvicorn will refuse itself, with its own message
        return []
