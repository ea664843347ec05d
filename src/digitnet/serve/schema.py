"""What ``POST /api/predict`` accepts and how it refuses: the request's schema, its checks, the refusal.

A JSON body is :class:`PredictRequest`, typed strictly by pydantic; :func:`checked_pixels` then checks
the shape and the range of ``pixels`` and :func:`decoded_base64` reads ``image``. :func:`request_body`
describes both, and the multipart form, for the OpenAPI document. Every refusal is an :class:`Error`,
``{"detail": "what was wrong"}``; :func:`first_error` says what pydantic found wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import numpy as np
from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict

from digitnet.modelfile.container import JSON_STRING

__all__ = [
    "FORM_THRESHOLD",
    "Error",
    "PredictRequest",
    "checked_pixels",
    "decoded_base64",
    "first_bad_pixel",
    "first_error",
    "form_threshold",
    "request_body",
]


class PredictRequest(BaseModel):
    """A digit to recognise: ``pixels`` or a base64 ``image``, exactly one of them.

    This checks the types, strictly (a number is not a string, rows hold numbers, nothing nests deeper);
    ``checked_pixels`` checks the shape and the range. ``request_body`` tells clients both.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    pixels: list[float] | list[list[float]] | None = None
    image: str | None = None
    model: str | None = None
    min_confidence: float | None = None


def request_body(names: list[str]) -> dict[str, Any]:
    """What ``POST /api/predict`` accepts, for the OpenAPI document: JSON or a form, naming one of ``names``.

    Honest to the letter: a JSON body holds exactly one of ``pixels`` and ``image`` (not null), pixels are
    784 numbers or 28 rows of 28 numbers in [0, 1], and nothing else is accepted (PredictRequest checks the
    types, ``checked_pixels`` the shape and range). A form holds an image ``file``; fields besides ``file``
    and ``model`` are ignored.
    """
    unit = {"type": "number", "minimum": 0, "maximum": 1}
    pixels = {
        "description": "784 values or 28 rows of 28 values in [0, 1], ink bright on black (as in MNIST)",
        "anyOf": [
            {"type": "array", "items": unit, "minItems": 784, "maxItems": 784},
            {
                "type": "array",
                "items": {"type": "array", "items": unit, "minItems": 28, "maxItems": 28},
                "minItems": 28,
                "maxItems": 28,
            },
            {"type": "null"},
        ],
    }
    model = {"enum": list(names), "description": "a name from GET /api/models; default: the default model"}
    image = "a PNG or JPEG image, base64-encoded (a data: URL is fine)"
    threshold = {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "answer 'sure' only at this probability or more; default: the model's own threshold",
    }
    json = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "pixels": pixels,
            "image": {"type": ["string", "null"], "description": image},
            "model": {"anyOf": [model, {"type": "null"}]},
            "min_confidence": {"anyOf": [threshold, {"type": "null"}]},
        },
        "oneOf": [
            {"required": ["pixels"], "properties": {"pixels": {"not": {"type": "null"}}}},  # exactly
            {"required": ["image"], "properties": {"image": {"type": "string"}}},
        ],  # one, not null
    }
    form = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "a PNG or JPEG image"},
            "model": {**model, "enum": [*names, ""]},
            "min_confidence": {
                "type": "string",
                "pattern": FORM_THRESHOLD,
                "description": "a number from 0 to 1 written as 0, 0.85 or 1 (or empty: the model's own)",
            },
        },  # a form says "none" with an empty field
        "required": ["file"],
    }
    content = {"application/json": {"schema": json}, "multipart/form-data": {"schema": form}}
    return {"required": True, "content": content}


FORM_THRESHOLD = r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?)?$"
"""How a form writes ``min_confidence``: 0 to 1 in plain decimals, or empty."""


def form_threshold(value: object) -> float | None:
    """A form's ``min_confidence`` as a number, None when absent or empty; 422 for anything else."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or re.fullmatch(FORM_THRESHOLD, value) is None:
        shown = repr(value[:40]) if isinstance(value, str) else "a file"
        raise HTTPException(422, f"min_confidence must be a number from 0 to 1 such as 0.85, got {shown}")
    return float(value)


class Error(BaseModel):
    """Every refusal, 4xx: ``detail`` says what was wrong."""

    detail: str


def first_bad_pixel(raw: bytes) -> str | None:
    """What is wrong with the body's ``pixels``, at the first element that is wrong, or None when they are
    784 numbers or rows of numbers (or absent, or the body is no JSON object: the schema says so then).

    A 1 MB body holds up to 280,000 one-element rows; pydantic would build an error for each (half a
    gigabyte, a second and a half of the event loop). This stops at the first, and refuses more than
    28 x 28 values before looking at any. Shape: (784,) or (28, 28) pass; the range is checked later.
    Before parsing, the quotation marks, and the commas and brackets outside strings, are counted: a body
    with more than :data:`MAX_QUOTES` or :data:`MAX_SEPARATORS` is no request (784 values need 783
    commas and 29 brackets), and is refused for a scan of its bytes instead of the 50 ms and 40 MB that
    parsing a million bytes of ``["x"],`` would hold the event loop.
    """
    quotes = raw.count(b'"')
    if quotes > MAX_QUOTES:  # more strings than 784 pixels and a few keys: no request
        return (
            f"body: it holds {quotes:,} quotation marks, more than {MAX_QUOTES:,}: a request has a few keys, "
            "'image' and 'model' strings, and pixels that are 784 numbers or 28 rows of 28 numbers"
        )
    if raw.count(b",") + raw.count(b"[") > MAX_SEPARATORS:  # only then look for them inside strings
        bare = JSON_STRING.sub(b"", raw)  # a few strings at most: quick
        separators = bare.count(b",") + bare.count(b"[")
        if separators > MAX_SEPARATORS:
            return (
                f"pixels: the body holds {separators:,} commas and brackets outside strings, more than "
                f"{MAX_SEPARATORS:,}: more values than 784 (784 numbers or 28 rows of 28 numbers)"
            )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None  # not JSON: pydantic says so in its own words
    pixels = body.get("pixels") if isinstance(body, dict) else None
    if not isinstance(pixels, list):
        return None
    hint = " (784 numbers or 28 rows of 28 numbers, nested no deeper)"
    if len(pixels) > 784:
        return f"pixels: {len(pixels):,} values, more than 784{hint}"
    if not (pixels and isinstance(pixels[0], list)):  # a flat list: every element a number
        return next((f"pixels[{j}]: {_NUMBER}{hint}" for j, v in enumerate(pixels) if not _number(v)), None)
    for i, row in enumerate(pixels):  # rows: every element a list of numbers
        if not isinstance(row, list):
            return f"pixels[{i}]: Input should be a valid list{hint}"
        if len(row) > 784:
            return f"pixels[{i}]: {len(row):,} values, more than 784{hint}"
        bad = next((j for j, v in enumerate(row) if not _number(v)), None)
        if bad is not None:
            return f"pixels[{i}][{bad}]: {_NUMBER}{hint}"
    return None


_NUMBER = "Input should be a valid number"

MAX_QUOTES = 2_000
"""Quotation marks a request body may hold: its keys and strings need 16; 784 pixels sent as strings
(refused then with the first one's place) 1,568."""

MAX_SEPARATORS = 1_000
"""Commas and ``[`` outside strings that a request body may hold: 784 values in 28 rows need 812."""


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checked_pixels(values: list[float] | list[list[float]]) -> np.ndarray:
    """Checked ``pixels``, as PredictRequest typed them: 784 values or 28 rows of 28, finite, in [0, 1]."""
    rows = [len(row) for row in values if isinstance(row, list)]  # PredictRequest: all rows or no row
    if len(set(rows)) > 1:  # ragged: NumPy cannot make an array of it
        raise HTTPException(
            422,
            "pixels must be 28 rows of 28 values or 784 values, "
            f"got rows of {min(rows)} to {max(rows)} values",
        )
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


def decoded_base64(text: str) -> bytes:
    """The bytes of a base64 ``image``, a ``data:`` URL's prefix dropped; 422 for anything not base64."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "image must be base64-encoded bytes of a PNG or JPEG file") from None


def first_error(exc: Exception) -> str:
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
