"""The prediction API on FastAPI: ``POST /api/predict``, ``GET /api/models``, ``GET /api/health``.

``/api/predict`` takes either JSON, ``{"pixels": 28x28 or 784 numbers in [0, 1]}`` or
``{"image": "<base64 PNG/JPEG>"}`` (optionally ``"model"``), or a multipart form with an image ``file``
field. Every input goes through the same MNIST-style preprocessing as ``digitnet predict`` (crop to the
ink, fit to 20 pixels, centre by mass). The answer holds the digit, the ten probabilities, every layer's
activations, the 28x28 input the network saw, and the preprocessing steps (the source's size, the ink's
box in it, the 20-pixel fit). Bad input gets a 4xx answer whose JSON ``detail``
says what was wrong; a body over 1 MB is refused with 413 before it is read in full.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from digitnet import __version__
from digitnet.data import find_mnist_dir, read_idx
from digitnet.errors import DigitnetError
from digitnet.imaging import preprocess
from digitnet.modelfile import LoadedModel
from digitnet.nn import Dropout

__all__ = ["MAX_BODY_BYTES", "PredictRequest", "create_app", "predict"]

PAGE = Path(__file__).with_name("static") / "index.html"
"""The drawing page served at ``/``."""

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted: a 28x28 drawing or a phone photo fits, a flood does not."""


class PredictRequest(BaseModel):
    """A digit to recognise: ``pixels`` or a base64 ``image``, exactly one of them."""

    model_config = ConfigDict(extra="forbid")
    pixels: list[float] | list[list[float]] | None = Field(
        None, description="28x28 rows or 784 values in [0, 1], ink bright on black (MNIST's convention)"
    )
    image: str | None = Field(None, description="a PNG or JPEG image, base64-encoded (a data: URL is fine)")
    model: str | None = Field(None, description="a name from GET /api/models; default: the default model")


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


def _pixels(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.shape not in ((784,), (28, 28)):
        raise HTTPException(
            422, f"pixels must be 28 rows of 28 values or 784 values, got shape {list(a.shape)}"
        )
    if not np.isfinite(a).all():
        raise HTTPException(422, "pixels must be finite numbers: found NaN or infinity")
    if a.min() < 0 or a.max() > 1:
        raise HTTPException(
            422, f"pixels must lie in [0, 1] (ink bright on black), found {a.min():g} to {a.max():g}"
        )
    return a.reshape(28, 28).astype(np.float32)


def _image(data: bytes, name: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # Pillow raises many kinds for bad bytes; all mean the same to the caller
        raise HTTPException(415, f"{name} is not an image Pillow can read (PNG, JPEG, ...)") from None
    if image.width * image.height > 40_000_000:
        raise HTTPException(
            413, f"{name} has {image.width}x{image.height} pixels; send at most 40 megapixels"
        )
    return image


def _decode_base64(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "image must be base64-encoded bytes of a PNG or JPEG file") from None


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413, by header or while streaming."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send, limit):
    response = JSONResponse(
        {"detail": f"request body over {limit:,} bytes; send a smaller image"}, status_code=413
    )
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def create_app(models: dict[str, LoadedModel], default: str) -> FastAPI:
    """The API serving ``models`` by name; ``default`` answers requests that name no model."""
    if default not in models:
        raise ValueError(f"default model {default!r} is not among {sorted(models)}")
    app = FastAPI(title="digitnet", version=__version__, description=__doc__)

    def choose(name: str | None) -> tuple[str, LoadedModel]:
        name = name or default
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r}; GET /api/models lists {sorted(models)}")
        return name, models[name]

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "models": len(models)}

    test_digits: dict[str, np.ndarray] = {}

    @app.get("/api/random-digit")
    def random_digit(index: int | None = None) -> dict[str, Any]:
        """A digit from the MNIST test set (random, or ``index``), if the dataset is on this machine."""
        if not test_digits:
            folder = find_mnist_dir()
            if folder is None:
                raise HTTPException(404, "no MNIST files on this machine: set DIGITNET_DATA to a folder holding "
                                         "them, or run `digitnet data --download`")  # fmt: skip
            test_digits["images"] = read_idx(folder / "t10k-images-idx3-ubyte.gz")  # (10000, 28, 28) uint8
            test_digits["labels"] = read_idx(folder / "t10k-labels-idx1-ubyte.gz")  # (10000,)
        count = len(test_digits["labels"])
        if index is None:
            index = int(np.random.default_rng().integers(count))
        if not 0 <= index < count:
            raise HTTPException(422, f"index must be 0 to {count - 1}, got {index}")
        pixels = test_digits["images"][index] / 255.0
        return {"index": index, "label": int(test_digits["labels"][index]), "pixels": _rounded(pixels)}

    @app.get("/api/models")
    def list_models() -> list[dict[str, Any]]:
        return [{"name": name, "default": name == default, "architecture": m.metrics.get("architecture"),
                 "parameters": m.model.n_params, "test_accuracy": m.metrics.get("test_accuracy")}
                for name, m in models.items()]  # fmt: skip

    @app.post(
        "/api/predict",
        openapi_extra={"requestBody": {"content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}, "model": {"type": "string"}}, "required": ["file"]}},
        }, "required": True}},
    )  # fmt: skip
    async def predict_endpoint(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart requests need an image in the field 'file'")
            model_field = form.get("model")
            name, loaded = choose(model_field if isinstance(model_field, str) else None)
            source, label = (
                _image(await upload.read(), upload.filename or "upload"),
                upload.filename or "upload",
            )
        elif kind == "application/json":
            try:
                body = PredictRequest.model_validate_json(await request.body())
            except ValueError as exc:
                raise HTTPException(
                    422, f"the JSON body does not match the schema: {_first_error(exc)}"
                ) from None
            if (body.pixels is None) == (body.image is None):
                raise HTTPException(422, "send exactly one of 'pixels' and 'image'")
            name, loaded = choose(body.model)
            if body.pixels is not None:
                source, label = _pixels(body.pixels), "pixels"
            else:
                source, label = _image(_decode_base64(body.image), "image"), "image"
        else:
            raise HTTPException(415, "send JSON (application/json) or a multipart form with an image 'file'")
        try:
            # plain lists and numbers already: skip FastAPI's per-element encoder, which costs ~10 ms here
            return JSONResponse({"model": name, **predict(loaded, source, label)})
        except DigitnetError as exc:
            raise HTTPException(422, str(exc)) from None

    app.add_middleware(BodyLimit)
    return app


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        return f"{where}: {first.get('msg')}"
    return str(exc)
