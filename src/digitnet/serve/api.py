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

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from pydantic import ValidationError

from digitnet.checks import check_digit_reader
from digitnet.confidence import checked_min_confidence, probabilities_at, recorded_min_confidence, verdicts
from digitnet.data import find_mnist_dir, read_idx
from digitnet.errors import DataError, DigitnetError, ImageFormatError, ImageTooLargeError
from digitnet.imaging import open_image, preprocess
from digitnet.modelfile import LoadedModel
from digitnet.nn.finite import finite_layer_outputs
from digitnet.nn.inspect import drawn_network
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
from digitnet.serve.prediction_queue import MAX_WAITING, PREDICTION_THREADS, PredictionQueue
from digitnet.serve.schema import (
    Error,
    PredictRequest,
    checked_pixels,
    decoded_base64,
    first_bad_pixel,
    first_error,
    form_threshold,
    request_body,
)
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
    "parse_host",
    "parse_origin",
    "predict",
    "request_body",
]

PAGE = Path(__file__).with_name("static") / "index.html"
"""The drawing page served at ``/``."""

DOCS_PAGE = Path(__file__).with_name("static") / "docs.html"
"""The API's description at ``/docs``: it shows ``/openapi.json`` with no external script (works offline)."""

MAX_IMAGE_PIXELS = 4_000_000
"""Most pixels the API decodes (``digitnet predict`` takes up to 25 million): a 2000x2000 scan, or a
12-megapixel JPEG, which decodes at half size. Preprocessing costs about 20 bytes a pixel, so one request
stays under 100 MB however the 1 MB body was compressed."""


def predict(
    loaded: LoadedModel, source: np.ndarray | Image.Image, name: str, min_confidence: float | None = None
) -> dict[str, Any]:
    """Preprocess ``source``, run the model, and report every layer's activations.

    The probabilities are calibrated with the model's recorded temperature, and the answer says whether
    it is ``sure``: its probability is at least ``min_confidence`` (default: the threshold the model
    records, see :mod:`digitnet.confidence`), with the ``runner_up`` digit for "not sure: 0 or 8?".

    ``network`` and ``connections`` describe what the page draws (see :mod:`digitnet.nn.inspect.drawn`): for
    each hidden layer its most active neurons, and for each drawn neuron its strongest incoming
    connections, measured as the contribution w·a of the previous neuron's activation a through weight w
    (pixels for the first layer).
    """
    prepared = preprocess(source, name=name)
    model = loaded.model
    x = prepared.input.reshape(1, -1)  # (28, 28) -> (1, 784)
    with np.errstate(over="ignore", invalid="ignore"):  # a crafted model overflows: one error below
        outputs = model.layer_outputs(x)  # (1, ...) each
    h = finite_layer_outputs(model, outputs)[-1]  # NaN or infinity anywhere: a 422 naming the layer
    network, connections, activations = drawn_network(model, outputs, x)
    probabilities = probabilities_at(model, h, float(loaded.metrics.get("temperature", 1.0)))[0]  # (10,)
    threshold = recorded_min_confidence(loaded.metrics) if min_confidence is None else min_confidence
    verdict = verdicts(probabilities[None], threshold)[0]
    steps = {
        "size": list(prepared.ink.shape),
        "box": list(prepared.box),
        "fitted": _rounded(prepared.fitted),
        "inverted": prepared.inverted,
    }  # the preprocessing, step by step, for the page to show
    return {
        **verdict,
        "min_confidence": threshold,
        "probabilities": _rounded(probabilities),
        "activations": [{**entry, "values": _rounded(entry["values"])} for entry in activations],
        "input": _rounded(prepared.input),
        "steps": steps,
        "network": [{**c, "shown": c["shown"].tolist()} if "shown" in c else c for c in network],
        "connections": [[*link[:4], round(link.contribution, 5)] for link in connections],
    }


def _rounded(a: np.ndarray) -> list:
    return np.round(a.astype(np.float64), 6).tolist()


def _image(data: bytes, name: str) -> Image.Image:
    """Decode uploaded bytes safely, at most :data:`MAX_IMAGE_PIXELS`: the format is told by its signature
    and the size by its header, both before any decoding (:func:`digitnet.imaging.open_image`)."""
    return open_image(data, name=name, max_pixels=MAX_IMAGE_PIXELS)


def create_app(
    models: dict[str, LoadedModel],
    default: str,
    allowed_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    body_seconds: float = BODY_SECONDS,
    body_budget: int = MAX_BODIES_BYTES,
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

    The predictions run on ``app.state.predictions``, a :class:`PredictionQueue` of
    :data:`PREDICTION_THREADS` threads and :data:`MAX_WAITING` places.
    """
    if default not in models:
        raise ValueError(f"default model {default!r} is not among {sorted(models)}")
    for name, loaded in models.items():  # every answer prepares a 28x28 digit and reads 10 probabilities
        check_digit_reader(loaded.model, f"the model {name!r}")
    allowed = [parse_origin(url) for url in allowed_origins]  # a bad one fails here, not on a request
    hosts = [parse_host(name) for name in allowed_hosts]
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
    )  # /docs is our page below: FastAPI's loads scripts from a CDN

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the same shape as every other 4xx: {"detail": "what was wrong"}
        return JSONResponse({"detail": f"the request does not match the schema: {first_error(exc)}"}, 422)

    def choose(name: str | None) -> tuple[str, LoadedModel]:
        name = default if name is None else name
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r}; GET /api/models lists {sorted(models)}")
        return name, models[name]

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: link checkers, curl -I
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.read_text(encoding="utf-8"))

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Whether the server is up. Answered on the event loop: fast however busy the thread pool is."""
        return {"status": "ok", "version": __version__, "models": len(models)}

    test_digits: dict[str, np.ndarray] = {}

    @app.get(
        "/api/random-digit",
        responses={
            404: {"model": Error, "description": "no MNIST test set on this machine"},
            422: {"model": Error, "description": "index out of range"},
        },
    )
    def random_digit(index: int | None = None) -> dict[str, Any]:
        """A digit from the MNIST test set (random, or ``index``), if the dataset is on this machine."""
        if not test_digits:
            try:
                folder = find_mnist_dir()
                if folder is None:
                    raise HTTPException(
                        404,
                        "no MNIST files on this machine: set DIGITNET_DATA to a folder "
                        "holding them, or run `digitnet data --download`",
                    )
                images = read_idx(folder / "t10k-images-idx3-ubyte.gz")  # (10000, 28, 28) uint8
                labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")  # (10000,)
                test_digits.update(images=images, labels=labels)  # both or neither: never half loaded
            except DataError as exc:  # DIGITNET_DATA names no folder, or the files are damaged
                raise HTTPException(404, f"no usable MNIST test set on this machine: {exc}") from None
        count = len(test_digits["labels"])
        if index is None:
            index = int(np.random.default_rng().integers(count))
        if not 0 <= index < count:
            raise HTTPException(422, f"index must be 0 to {count - 1}, got {index}")
        pixels = test_digits["images"][index] / 255.0
        return {"index": index, "label": int(test_digits["labels"][index]), "pixels": _rounded(pixels)}

    @app.get("/api/models")
    async def list_models() -> list[dict[str, Any]]:
        """The models served, by name, with their size and test accuracy."""
        return [
            {
                "name": name,
                "default": name == default,
                "architecture": m.metrics.get("architecture"),
                "parameters": m.model.n_params,
                "test_accuracy": m.metrics.get("test_accuracy"),
            }
            for name, m in models.items()
        ]

    @app.post(
        "/api/predict",
        responses={
            400: {"model": Error, "description": "a multipart body that cannot be parsed"},
            404: {"model": Error, "description": "unknown model"},
            413: {"model": Error, "description": "body over 1 MB, or an image with too many pixels"},
            415: {"model": Error, "description": "neither JSON nor a form, or a file that is no image"},
            422: {"model": Error, "description": "a body that breaks the schema, or an image with no ink"},
            503: {"model": Error, "description": "too many predictions waiting; try again after Retry-After"},
        },
        openapi_extra={"requestBody": request_body(list(models))},
    )
    async def predict_endpoint(request: Request) -> JSONResponse:
        """Recognise a digit: JSON ``pixels`` or base64 ``image``, or a form's ``file``.

        An image is decoded and predicted on the prediction threads (``PredictionQueue``), or the answer
        is 503 when too many wait for them: its cost grows with its pixels. ``pixels`` are at most a
        28x28 grid, whose whole prediction (about 1.5 ms) costs less than handing it to a thread: on two
        cores with 16 clients, 404 predictions/s on the event loop against 259 through the threads,
        whose GIL handoffs with the event loop cost more than the work. So they are answered here.
        """
        predictions: PredictionQueue = request.app.state.predictions
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            form = await request.form()
            upload, model = form.get("file"), form.get("model")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart requests need an image in the field 'file'")
            threshold = form_threshold(form.get("min_confidence"))
            data, filename = await upload.read(), upload.filename or "upload"
            model = model if isinstance(model, str) and model else None  # empty, or a file: no model named
            return await predictions.run(answer_upload, data, filename, model, threshold)
        if kind == "application/json":
            body = parse_json(await request.body())  # at most 1 MB (BodyLimit): a millisecond or two
            name, loaded = choose(body.model)
            threshold = json_threshold(body.min_confidence)
            if body.pixels is not None:
                return answer(name, loaded, lambda: checked_pixels(body.pixels), "pixels", threshold)
            image = body.image
            return await predictions.run(
                answer, name, loaded, lambda: _image(decoded_base64(image), "image"), "image", threshold
            )
        raise HTTPException(415, "send JSON (application/json) or a multipart form with an image 'file'")

    def parse_json(raw: bytes) -> PredictRequest:
        bad_pixel = first_bad_pixel(raw)  # before pydantic, which would list every bad one of 280,000
        if bad_pixel is not None:
            raise HTTPException(422, f"the JSON body does not match the schema: {bad_pixel}")
        try:
            body = PredictRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise HTTPException(422, f"the JSON body does not match the schema: {first_error(exc)}") from None
        if (body.pixels is None) == (body.image is None):
            raise HTTPException(422, "send exactly one of 'pixels' and 'image'")
        return body

    def json_threshold(value: float | None) -> float | None:
        try:
            return None if value is None else checked_min_confidence(value)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    def answer_upload(data: bytes, filename: str, model: str | None, threshold: float | None) -> JSONResponse:
        name, loaded = choose(model)
        return answer(name, loaded, lambda: _image(data, filename), filename, threshold)

    def answer(
        name: str, loaded: LoadedModel, decode: Callable[[], Any], label: str, threshold: float | None = None
    ) -> JSONResponse:
        """Decode, preprocess and predict; 415 for a refused format, 413 for too many pixels, 422 for any
        other bad image (corrupt, no ink)."""
        try:
            source = decode()
            # plain lists and numbers already: skip FastAPI's per-element encoder, which costs ~10 ms here
            return JSONResponse({"model": name, **predict(loaded, source, label, threshold)})
        except ImageFormatError as exc:
            raise HTTPException(415, str(exc)) from None
        except ImageTooLargeError as exc:
            raise HTTPException(413, str(exc)) from None
        except DigitnetError as exc:
            raise HTTPException(422, str(exc)) from None

    app.state.predictions = PredictionQueue(PREDICTION_THREADS, MAX_WAITING)
    app.add_middleware(BodyLimit, seconds=body_seconds, budget=body_budget)
    if allowed:
        app.add_middleware(Cors, allowed=allowed)  # after OriginCheck: only allowed pages get this far
    app.add_middleware(OriginCheck, allowed=allowed, hosts=hosts)  # added last, so it runs first
    return app
