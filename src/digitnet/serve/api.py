"""The prediction API on FastAPI: ``POST /api/predict``, ``GET /api/models``, ``GET /api/health``.

``/api/predict`` takes either JSON, ``{"pixels": 28x28 or 784 numbers in [0, 1]}`` or
``{"image": "<base64 PNG/JPEG>"}`` (optionally ``"model"``), or a multipart form with an image ``file``
field. Every input goes through the same MNIST-style preprocessing as ``digitnet predict`` (crop to the
ink, fit to 20 pixels, centre by mass). The answer holds the digit, the ten probabilities, every layer's
activations, the 28x28 input the network saw, and the preprocessing steps (the source's size, the ink's
box in it, the 20-pixel fit). Bad input gets a 4xx answer whose JSON ``detail``
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

import base64
import binascii
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from digitnet import __version__
from digitnet.data import find_mnist_dir, read_idx
from digitnet.errors import DataError, DigitnetError, ImageFormatError, ImageTooLargeError
from digitnet.imaging import open_image, preprocess
from digitnet.modelfile import LoadedModel
from digitnet.nn import Dropout
from digitnet.nn.model import finite_outputs
from digitnet.serve.guards import MAX_BODY_BYTES, BodyLimit, Cors, OriginCheck, parse_host, parse_origin

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

PREDICTION_THREADS = 2
"""Predictions decoded and run at once: one per core of the 2-core machines digitnet is measured on, and
at most 2 x 100 MB of memory (see MAX_IMAGE_PIXELS) however many clients post."""

MAX_WAITING = 32
"""Predictions that may wait for a thread; one more gets 503. A waiting one holds only its body (1 MB at
most), so the queue stays under 32 MB, and 32 is twice the clients of ``benchmarks/load_api.py``."""


class PredictRequest(BaseModel):
    """A digit to recognise: ``pixels`` or a base64 ``image``, exactly one of them.

    This checks the types, strictly (a number is not a string, rows hold numbers, nothing nests deeper);
    ``_pixels`` checks the shape and the range. ``request_body`` tells clients both.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    pixels: list[float] | list[list[float]] | None = None
    image: str | None = None
    model: str | None = None


def request_body(names: list[str]) -> dict[str, Any]:
    """What ``POST /api/predict`` accepts, for the OpenAPI document: JSON or a form, naming one of ``names``.

    Honest to the letter: a JSON body holds exactly one of ``pixels`` and ``image`` (not null), pixels are
    784 numbers or 28 rows of 28 numbers in [0, 1], and nothing else is accepted (PredictRequest checks the
    types, ``_pixels`` the shape and range). A form holds an image ``file``; fields besides ``file`` and
    ``model`` are ignored.
    """
    unit = {"type": "number", "minimum": 0, "maximum": 1}
    pixels = {
        "description": "784 values or 28 rows of 28 values in [0, 1], ink bright on black (as in MNIST)",
        "anyOf": [{"type": "array", "items": unit, "minItems": 784, "maxItems": 784},
                  {"type": "array", "items": {"type": "array", "items": unit, "minItems": 28, "maxItems": 28},
                   "minItems": 28, "maxItems": 28},
                  {"type": "null"}],
    }  # fmt: skip
    model = {"enum": list(names), "description": "a name from GET /api/models; default: the default model"}
    image = "a PNG or JPEG image, base64-encoded (a data: URL is fine)"
    json = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"pixels": pixels, "image": {"type": ["string", "null"], "description": image},
                       "model": {"anyOf": [model, {"type": "null"}]}},
        "oneOf": [{"required": ["pixels"], "properties": {"pixels": {"not": {"type": "null"}}}},  # exactly
                  {"required": ["image"], "properties": {"image": {"type": "string"}}}],  # one, not null
    }  # fmt: skip
    form = {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary", "description": "a PNG or JPEG image"},
                       "model": {**model, "enum": [*names, ""]}},  # a form says "none" with an empty field
        "required": ["file"],
    }  # fmt: skip
    content = {"application/json": {"schema": json}, "multipart/form-data": {"schema": form}}
    return {"required": True, "content": content}


class Error(BaseModel):
    """Every refusal, 4xx: ``detail`` says what was wrong."""

    detail: str


SHOWN = 16
"""Hidden neurons drawn per layer on the page: the most active ones."""

LINKS = 4
"""Strongest incoming connections drawn into each shown neuron."""


def predict(loaded: LoadedModel, source: np.ndarray | Image.Image, name: str) -> dict[str, Any]:
    """Preprocess ``source``, run the model, and report every layer's activations.

    ``network`` describes what the page draws: for each hidden layer its most active neurons, and for
    each drawn neuron its strongest incoming connections, measured as the contribution w·a of the
    previous neuron's activation a through weight w (pixels for the first layer).
    """
    prepared = preprocess(source, name=name)
    model = loaded.model
    x = prepared.input.reshape(1, -1)  # (28, 28) -> (1, 784)
    convolutional = model.input_shape != (784,)
    layers, h = [], model.as_input(x)  # (1, 784), or (1, 1, 28, 28) for a convolutional network
    columns = [{"name": "input", "values": x[0], "shown": np.arange(x.shape[1])}]
    links = []
    with np.errstate(over="ignore", invalid="ignore"):  # a crafted model overflows: one error below
        for i, layer in enumerate(model.layers):
            previous = h
            h = layer.forward(h)
            if isinstance(layer, Dropout) or h.ndim == 2 and previous.ndim > 2:
                continue  # dropout is the identity here; flattening changes no value
            if h.ndim > 2:  # feature maps (1, C, H, W): each channel's mean, not every pixel
                layers.append({"index": i, "layer": layer.describe(), "shape": list(h.shape[1:]),
                               "values": _rounded(h[0].mean(axis=(1, 2)))})  # fmt: skip
                continue
            entry = {"index": i, "layer": layer.describe(), "values": _rounded(h[0])}
            layers.append(entry)
            if "W" in layer.params:
                columns.append(
                    {"name": "", "values": None, "shown": None, "inputs": previous[0], "W": layer.params["W"]}
                )
            else:
                column = columns[-1]
                last = i == len(model.layers) - 1 or all(not lay.params for lay in model.layers[i + 1 :])
                column["values"], column["entry"] = h[0], entry
                top = min(SHOWN, h.shape[1])
                column["shown"] = (
                    np.arange(h.shape[1]) if last else np.sort(np.argpartition(-h[0], top - 1)[:top])
                )
    finite_outputs(h)  # NaN or infinity: NonFiniteOutputError, a 422 that says why
    if columns[-1]["values"] is None:  # logits out: no activation layer after the last Dense
        columns[-1]["values"], columns[-1]["shown"] = h[0], np.arange(h.shape[1])
    for column in columns[1:]:
        if "entry" in column:
            column["entry"]["column"] = True  # the activations the page draws as this column's neurons
    # A convolutional network's first dense layer reads feature maps, not pixels: no links from the image.
    for k in range(2 if convolutional else 1, len(columns)):
        source_shown, target = columns[k - 1]["shown"], columns[k]
        a = target["inputs"][source_shown]  # (S,) activations of the drawn neurons before
        contributions = a[:, None] * target["W"][np.ix_(source_shown, target["shown"])]  # (S, T): a_s · w_st
        count = min(LINKS, len(source_shown))
        strongest = np.argpartition(-contributions, count - 1, axis=0)[:count]  # (LINKS, T): the largest rows
        for t, to in enumerate(target["shown"]):
            for j in strongest[:, t]:
                if contributions[j, t] > 0:
                    links.append(
                        [k - 1, int(source_shown[j]), k, int(to), round(float(contributions[j, t]), 5)]
                    )
    network = [{"size": int(len(c["values"])), "shown": c["shown"].tolist()} for c in columns[1:]]
    network.insert(0, {"size": int(x.shape[1])})  # the input: every pixel is drawn
    probabilities = model.cost.probabilities(h)[0]  # (10,)
    digit = int(probabilities.argmax())
    steps = {
        "size": list(prepared.ink.shape),
        "box": list(prepared.box),
        "fitted": _rounded(prepared.fitted),
        "inverted": prepared.inverted,
    }  # the preprocessing, step by step, for the page to show
    return {"digit": digit, "confidence": float(probabilities[digit]), "probabilities": _rounded(probabilities),
            "activations": layers, "input": _rounded(prepared.input), "steps": steps,
            "network": network, "connections": links}  # fmt: skip


def _rounded(a: np.ndarray) -> list:
    return np.round(a.astype(np.float64), 6).tolist()


def _pixels(values: list[float] | list[list[float]]) -> np.ndarray:
    """Checked ``pixels``, as PredictRequest typed them: 784 values or 28 rows of 28, finite, in [0, 1]."""
    rows = [len(row) for row in values if isinstance(row, list)]  # PredictRequest: all rows or no row
    if len(set(rows)) > 1:  # ragged: NumPy cannot make an array of it
        raise HTTPException(422, "pixels must be 28 rows of 28 values or 784 values, "
                                 f"got rows of {min(rows)} to {max(rows)} values")  # fmt: skip
    a = np.asarray(values, dtype=np.float64)  # (784,) or (28, 28) if right
    if a.shape not in ((784,), (28, 28)):
        raise HTTPException(
            422, f"pixels must be 28 rows of 28 values or 784 values, got shape {list(a.shape)}"
        )
    if not np.isfinite(a).all():
        raise HTTPException(422, "pixels must be finite numbers: found NaN or infinity")
    if a.min() < 0 or a.max() > 1:
        raise HTTPException(
            422, f"pixels must lie in [0, 1] (ink bright on black), found {a.min():.9g} to {a.max():.9g}"
        )
    return a.reshape(28, 28).astype(np.float32)


def _image(data: bytes, name: str) -> Image.Image:
    """Decode uploaded bytes safely, at most :data:`MAX_IMAGE_PIXELS`: the format is told by its signature
    and the size by its header, both before any decoding (:func:`digitnet.imaging.open_image`)."""
    return open_image(data, name=name, max_pixels=MAX_IMAGE_PIXELS)


def _decode_base64(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "image must be base64-encoded bytes of a PNG or JPEG file") from None


class PredictionQueue:
    """Runs predictions on at most ``threads`` threads of their own, with at most ``waiting`` in line.

    One more is refused with 503 and ``Retry-After`` rather than queued: each running prediction may hold
    100 MB, so the server's memory stays bounded however many clients post at once. Used on the event
    loop only, so the count needs no lock.

    Parameters
    ----------
    threads : int
        Predictions run at once (an ``anyio.CapacityLimiter``, apart from the thread pool the rest of
        the app uses).
    waiting : int
        Predictions that may wait for a thread.
    """

    def __init__(self, threads: int = PREDICTION_THREADS, waiting: int = MAX_WAITING):
        if threads < 1 or waiting < 0:
            raise ValueError(f"need threads >= 1 and waiting >= 0, got threads={threads}, waiting={waiting}")
        self.limiter, self.most = anyio.CapacityLimiter(threads), threads + waiting
        self.admitted = 0  # running or waiting

    @property
    def waiting(self) -> int:
        """Predictions admitted that wait for a thread."""
        return self.admitted - int(self.limiter.borrowed_tokens)

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` on one of the threads; HTTPException 503 if the line is full."""
        if self.admitted >= self.most:
            raise HTTPException(
                503,
                f"the server is busy: {self.most} predictions are running or waiting; try again in a second",
                headers={"Retry-After": "1"},
            )
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        finally:
            self.admitted -= 1


def create_app(
    models: dict[str, LoadedModel],
    default: str,
    allowed_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
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

    The predictions run on ``app.state.predictions``, a :class:`PredictionQueue` of
    :data:`PREDICTION_THREADS` threads and :data:`MAX_WAITING` places.
    """
    if default not in models:
        raise ValueError(f"default model {default!r} is not among {sorted(models)}")
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
        return JSONResponse({"detail": f"the request does not match the schema: {_first_error(exc)}"}, 422)

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

    @app.get("/api/random-digit", responses={
        404: {"model": Error, "description": "no MNIST test set on this machine"},
        422: {"model": Error, "description": "index out of range"},
    })  # fmt: skip
    def random_digit(index: int | None = None) -> dict[str, Any]:
        """A digit from the MNIST test set (random, or ``index``), if the dataset is on this machine."""
        if not test_digits:
            try:
                folder = find_mnist_dir()
                if folder is None:
                    raise HTTPException(404, "no MNIST files on this machine: set DIGITNET_DATA to a folder "
                                             "holding them, or run `digitnet data --download`")  # fmt: skip
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
        return [{"name": name, "default": name == default, "architecture": m.metrics.get("architecture"),
                 "parameters": m.model.n_params, "test_accuracy": m.metrics.get("test_accuracy")}
                for name, m in models.items()]  # fmt: skip

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
    )  # fmt: skip
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
            data, filename = await upload.read(), upload.filename or "upload"
            model = model if isinstance(model, str) and model else None  # empty, or a file: no model named
            return await predictions.run(answer_upload, data, filename, model)
        if kind == "application/json":
            body = parse_json(await request.body())  # at most 1 MB (BodyLimit): a millisecond or two
            name, loaded = choose(body.model)
            if body.pixels is not None:
                return answer(name, loaded, lambda: _pixels(body.pixels), "pixels")
            image = body.image
            return await predictions.run(
                answer, name, loaded, lambda: _image(_decode_base64(image), "image"), "image"
            )
        raise HTTPException(415, "send JSON (application/json) or a multipart form with an image 'file'")

    def parse_json(raw: bytes) -> PredictRequest:
        try:
            body = PredictRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise HTTPException(
                422, f"the JSON body does not match the schema: {_first_error(exc)}"
            ) from None
        if (body.pixels is None) == (body.image is None):
            raise HTTPException(422, "send exactly one of 'pixels' and 'image'")
        return body

    def answer_upload(data: bytes, filename: str, model: str | None) -> JSONResponse:
        name, loaded = choose(model)
        return answer(name, loaded, lambda: _image(data, filename), filename)

    def answer(name: str, loaded: LoadedModel, decode: Callable[[], Any], label: str) -> JSONResponse:
        """Decode, preprocess and predict; 415 for a refused format, 413 for too many pixels, 422 for any
        other bad image (corrupt, no ink)."""
        try:
            source = decode()
            # plain lists and numbers already: skip FastAPI's per-element encoder, which costs ~10 ms here
            return JSONResponse({"model": name, **predict(loaded, source, label)})
        except ImageFormatError as exc:
            raise HTTPException(415, str(exc)) from None
        except ImageTooLargeError as exc:
            raise HTTPException(413, str(exc)) from None
        except DigitnetError as exc:
            raise HTTPException(422, str(exc)) from None

    app.state.predictions = PredictionQueue(PREDICTION_THREADS, MAX_WAITING)
    app.add_middleware(BodyLimit)
    if allowed:
        app.add_middleware(Cors, allowed=allowed)  # after OriginCheck: only allowed pages get this far
    app.add_middleware(OriginCheck, allowed=allowed, hosts=hosts)  # added last, so it runs first
    return app


def _first_error(exc: Exception) -> str:
    """The deepest of the errors pydantic found, as ``pixels[0][3]: Input should be a valid number``.

    For ``pixels`` the deepest error comes from the union branch that got furthest (rows of numbers).
    """
    errors = exc.errors() if callable(getattr(exc, "errors", None)) else []
    if not errors:
        return str(exc)
    first = max(errors, key=lambda e: len(e.get("loc", ())))
    loc = [p for p in first.get("loc", ()) if not (isinstance(p, str) and "[" in p)]  # drop "list[float]"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"
    hint = " (784 numbers or 28 rows of 28 numbers, nested no deeper)" if loc[:1] == ["pixels"] else ""
    return f"{where}: {first.get('msg')}{hint}"
