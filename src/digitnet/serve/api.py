"""The prediction API on FastAPI: ``POST /api/predict``, ``GET /api/models``, ``GET /api/health``.

``/api/predict`` takes either JSON, ``{"pixels": 28x28 or 784 numbers in [0, 1]}`` or
``{"image": "<base64 PNG/JPEG>"}`` (optionally ``"model"`` and ``"min_confidence"``), or a multipart form
with an image ``file`` field. Every input goes through the same MNIST-style preprocessing as
``digitnet predict`` (crop to the ink, fit to 20 pixels, centre by mass). The answer holds the digit,
whether the network is ``sure`` of it (its calibrated probability at least ``min_confidence``, by default
the model's own threshold) and the ``runner_up``, the ten probabilities, every layer's activations, the
28x28 input the network saw, and the preprocessing steps (the source's size, the ink's box in it, the
20-pixel fit). Bad input gets a 4xx answer whose JSON ``detail``
says what was wrong; a body over 1 MB is refused with 413 before it is read in full.

Other web pages cannot use the API: a request whose ``Origin`` is not the server's own (nor one given
with ``digitnet serve --allow-origin``, which also gets the CORS answers a browser needs), or that the
browser marks cross-site, is refused with 403, and so is a request addressed to a host name the server
does not answer to (localhost, IP addresses and those given with ``--allow-host``), which stops DNS
rebinding. Requests without ``Origin`` (curl, scripts) pass. Decoding and prediction run on their own
threads, two at a time, so a slow image never holds up other requests; when 32 more are waiting, another
gets 503 with ``Retry-After``. ``/docs`` is a self-contained page (no external scripts, works offline)
that shows the OpenAPI document at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from digitnet.checks import check_digit_reader
from digitnet.modelfile import LoadedModel
from digitnet.serve.guards import (
    BODY_SECONDS,
    MAX_BODIES_BYTES,
    MAX_BODY_BYTES,
    BodyLimit,
    Cors,
    OriginCheck,
    parse_host,
    parse_origin,
)
from digitnet.serve.handwriting import DrawingStore, handwriting_router
from digitnet.serve.pages import pages_router
from digitnet.serve.prediction import MAX_IMAGE_PIXELS, predict, prediction_router
from digitnet.serve.prediction_queue import MAX_WAITING, PREDICTION_THREADS, PredictionQueue
from digitnet.serve.schema import Error, PredictRequest, first_error, request_body
from digitnet.serve.test_set import test_set_router
from digitnet.serve.training_routes import training_router
from digitnet.serve.training_session import TrainingSession
from digitnet.version import __version__

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_WAITING",
    "PREDICTION_THREADS",
    "OriginCheck",
    "PredictRequest",
    "PredictionQueue",
    "create_app",
    "create_watch_app",
    "parse_host",
    "parse_origin",
    "predict",
    "request_body",
]


def create_app(
    models: dict[str, LoadedModel],
    default: str,
    allowed_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    body_seconds: float = BODY_SECONDS,
    body_budget: int = MAX_BODIES_BYTES,
    runs_dir: str | Path | None = None,
    data_dir: str | None = None,
    remote_training: bool = False,
) -> FastAPI:
    """The API serving ``models`` by name.

    Parameters
    ----------
    models : dict of str to LoadedModel
        The models, by the names clients choose them with.
    default : str
        The model that answers requests naming none; one of ``models``.
    allowed_origins : iterable of str
        Web pages besides the server's own that may call the API, as ``scheme://host[:port]``
        (see ``OriginCheck``; they get CORS answers, see ``Cors``); ValueError for anything else.
    allowed_hosts : iterable of str
        Host names besides localhost, IP addresses and the hosts of ``allowed_origins`` that requests may
        be addressed to (the ``Host`` header), e.g. the name of this machine on the LAN; ValueError for
        anything that is not a host name. Tests with Starlette's TestClient pass ``["testserver"]``.
    body_seconds : float
        Time a request's body may take to arrive in full; a slower one gets 408 and its upload is
        dropped (:class:`~digitnet.serve.guards.BodyLimit`).
    body_budget : int
        Most bytes of request bodies held at once, all requests together; a body that would go over gets
        503 with ``Retry-After``.
    runs_dir : path or None
        Where trainings started from the page save their run folders, and ``drawings/`` the learner's
        labelled drawings (:mod:`~digitnet.serve.handwriting`); None: no training view (its routes are
        absent). A training still running when the server stops keeps its last finished epoch.
    data_dir : str or None
        The MNIST folder trainings read (None: as ``load_mnist`` finds it, never downloading).
    remote_training : bool
        Whether machines other than this one may start trainings, keep drawings and fine-tune (403 for
        them otherwise); anyone the origin and host checks let through may watch.

    The app is its guards (origin, host, body size and time), then three routers: the pages and health
    (:mod:`~digitnet.serve.pages`), the test digits (:mod:`~digitnet.serve.test_set`) and the
    predictions (:mod:`~digitnet.serve.prediction`), which run on ``app.state.predictions``, a
    :class:`PredictionQueue` of :data:`PREDICTION_THREADS` threads and :data:`MAX_WAITING` places.
    """
    if default not in models:
        raise ValueError(f"default model {default!r} is not among {sorted(models)}")
    for name, loaded in models.items():  # every answer prepares a 28x28 digit and reads 10 probabilities
        check_digit_reader(loaded.model, f"the model {name!r}")
    allowed = [parse_origin(url) for url in allowed_origins]  # a bad one fails here, not on a request
    hosts = [parse_host(name) for name in allowed_hosts]
    app = _app()
    app.state.remote_training = remote_training
    app.include_router(pages_router(models))
    app.include_router(test_set_router(data_dir))
    app.include_router(prediction_router(models, default))
    if runs_dir is not None:
        session = app.state.training = TrainingSession(models, Path(runs_dir), data_dir)
        app.include_router(training_router(session))
        store = DrawingStore(Path(runs_dir) / "drawings")
        app.include_router(handwriting_router(store, session, models))
        app.router.on_shutdown.append(lambda: session.stop(wait=120))  # saves the last finished epoch
    app.state.predictions = PredictionQueue(PREDICTION_THREADS, MAX_WAITING)
    return _guarded(app, allowed, hosts, body_seconds, body_budget)


def create_watch_app(session: TrainingSession, allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """The training view alone, watching ``session`` (``digitnet train --watch``): ``/train``, its API and
    ``/api/health``, behind the same guards as :func:`create_app`; ``/`` leads to ``/train``."""
    app = _app()
    app.state.training = session
    app.include_router(pages_router({}, watch_only=True))
    app.include_router(training_router(session))
    return _guarded(app, [], [parse_host(name) for name in allowed_hosts], BODY_SECONDS, MAX_BODIES_BYTES)


def _app() -> FastAPI:
    refused = {
        403: {"model": Error, "description": "a request from another web page, or for another host name"}
    }
    app = FastAPI(
        title="digitnet",
        version=__version__,
        description=__doc__,
        responses=refused,
        docs_url=None,
        redoc_url=None,
    )  # /docs is our page: FastAPI's loads scripts from a CDN

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the same shape as every other 4xx: {"detail": "what was wrong"}
        return JSONResponse({"detail": f"the request does not match the schema: {first_error(exc)}"}, 422)

    return app


def _guarded(app: FastAPI, allowed, hosts, body_seconds: float, body_budget: int) -> FastAPI:
    """``app`` behind the guards every request passes first (see :mod:`digitnet.serve.guards`)."""
    app.add_middleware(BodyLimit, seconds=body_seconds, budget=body_budget)
    if allowed:
        app.add_middleware(Cors, allowed=allowed)  # after OriginCheck: only allowed pages get this far
    app.add_middleware(OriginCheck, allowed=allowed, hosts=hosts)  # added last, so it runs first
    return app
