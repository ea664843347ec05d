"""Reading a digit: ``POST /api/predict`` and ``GET /api/models``.

:func:`predict` prepares any image as ``digitnet predict`` does and runs the model, every layer's
activations and the neurons the page draws included; :func:`prediction_router` answers requests with it,
bad input in a 4xx whose ``detail`` says what was wrong (see :mod:`digitnet.serve.api`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import ValidationError

from digitnet.confidence import checked_min_confidence, probabilities_at, recorded_min_confidence, verdicts
from digitnet.errors import DigitnetError, ImageFormatError, ImageTooLargeError
from digitnet.imaging import open_image, preprocess
from digitnet.modelfile import LoadedModel
from digitnet.nn.finite import finite_layer_outputs
from digitnet.nn.inspect import drawn_network
from digitnet.serve.prediction_queue import PredictionQueue
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

__all__ = ["MAX_IMAGE_PIXELS", "predict", "prediction_router", "rounded"]

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
        "fitted": rounded(prepared.fitted),
        "inverted": prepared.inverted,
    }  # the preprocessing, step by step, for the page to show
    return {
        **verdict,
        "min_confidence": threshold,
        "probabilities": rounded(probabilities),
        "activations": [{**entry, "values": rounded(entry["values"])} for entry in activations],
        "input": rounded(prepared.input),
        "steps": steps,
        "network": [{**c, "shown": c["shown"].tolist()} if "shown" in c else c for c in network],
        "connections": [[*link[:4], round(link.contribution, 5)] for link in connections],
    }


def rounded(a: np.ndarray) -> list:
    return np.round(a.astype(np.float64), 6).tolist()


def _image(data: bytes, name: str) -> Image.Image:
    """Decode uploaded bytes safely, at most :data:`MAX_IMAGE_PIXELS`: the format is told by its signature
    and the size by its header, both before any decoding (:func:`digitnet.imaging.open_image`)."""
    return open_image(data, name=name, max_pixels=MAX_IMAGE_PIXELS)


def prediction_router(models: dict[str, LoadedModel], default: str) -> APIRouter:
    """The routes that read digits with ``models`` (``default`` when a request names none); the
    predictions run on ``app.state.predictions``, a :class:`PredictionQueue`."""
    router = APIRouter()

    def choose(name: str | None) -> tuple[str, LoadedModel]:
        name = default if name is None else name
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r}; GET /api/models lists {sorted(models)}")
        return name, models[name]

    @router.get("/api/models")
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
            for name, m in list(models.items())  # a copy: a training may add one meanwhile
        ]

    @router.post(
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

    return router
