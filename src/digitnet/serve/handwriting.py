"""Teach it your handwriting: a learner's labelled drawings, kept on disk, and fine-tuning on them.

=============================  =============================================================================
``POST /api/drawings``         ``{"image": "<base64 PNG>", "label": 0-9, "kept_apart": false}``: the drawing,
                               prepared exactly as a prediction prepares it (crop, fit, centre: the 28x28
                               input), saved as a PNG under ``DIR/mine/LABEL/`` (or ``DIR/kept/LABEL/``,
                               drawings kept apart to measure on, never trained on); the counts back
``GET /api/drawings``          how many drawings of each digit there are, of each kind
``POST /api/fine-tune``        ``{"model": name, "epochs": 1-10}``: fine-tune that model on MNIST mixed with
                               the drawings (:mod:`digitnet.serve.fine_tune`), as the training view's one
                               training; its events come on ``/api/train/events``; the result, a new model
=============================  =============================================================================

At most :data:`MAX_DRAWINGS` drawings are kept; each file is a 28x28 grey PNG of under a kilobyte.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from digitnet.atomic import atomic_write
from digitnet.errors import DigitnetError
from digitnet.imaging import open_image, preprocess
from digitnet.modelfile import LoadedModel
from digitnet.serve.prediction import MAX_IMAGE_PIXELS
from digitnet.serve.schema import Error, decoded_base64
from digitnet.serve.training_routes import from_this_machine
from digitnet.serve.training_session import Busy, TrainingSession

__all__ = ["MAX_DRAWINGS", "DrawingStore", "handwriting_router"]

MAX_DRAWINGS = 2_000
KINDS = ("mine", "kept")


class DrawingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    image: str = Field(max_length=1_400_000)
    label: int = Field(ge=0, le=9)
    kept_apart: bool = False


class FineTuneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(max_length=200)
    epochs: int = Field(2, ge=1, le=10)


class DrawingStore:
    """A folder of labelled 28x28 inputs: ``mine/LABEL/N.png`` to train on, ``kept/LABEL/N.png`` to test."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def add(self, pixels: np.ndarray, label: int, kept_apart: bool) -> None:
        """Save ``pixels`` (28, 28) in [0, 1], ink bright, as drawing of ``label``; ValueError when full."""
        with self._lock:
            if sum(self.counts()[kind].sum() for kind in KINDS) >= MAX_DRAWINGS:
                raise ValueError(
                    f"{MAX_DRAWINGS:,} drawings are kept already; remove some from {self.folder}"
                )
            folder = self.folder / KINDS[kept_apart] / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            number = 1 + max((int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit()), default=0)
            image = Image.fromarray(np.round(255 * np.clip(pixels, 0, 1)).astype(np.uint8))
            with atomic_write(folder / f"{number}.png", "wb") as f:
                image.save(f, format="PNG")

    def counts(self) -> dict[str, np.ndarray]:
        """Drawings per digit (10,), of each kind."""
        return {
            kind: np.array([len(list((self.folder / kind / str(d)).glob("*.png"))) for d in range(10)])
            for kind in KINDS
        }

    def load(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """x (N, 784) float32 in [0, 1] and y (N,) of one kind; unreadable files are passed over."""
        xs, ys = [], []
        for digit in range(10):
            for path in sorted((self.folder / kind / str(digit)).glob("*.png")):
                try:
                    with Image.open(path) as image:
                        a = np.asarray(image.convert("L"), dtype=np.float32) / 255
                except OSError:
                    continue
                if a.shape == (28, 28):
                    xs.append(a.reshape(784))
                    ys.append(digit)
        return np.array(xs, np.float32).reshape(-1, 784), np.array(ys, np.intp)


def handwriting_router(
    store: DrawingStore, session: TrainingSession, models: dict[str, LoadedModel]
) -> APIRouter:
    router = APIRouter()

    def counted() -> dict[str, Any]:
        counts = store.counts()
        return {kind: {"total": int(c.sum()), "per_digit": c.tolist()} for kind, c in counts.items()}

    local = [Depends(from_this_machine)]

    @router.post(
        "/api/drawings",
        dependencies=local,
        responses={422: {"model": Error, "description": "no drawing, or no ink"}},
    )
    def add_drawing(body: DrawingRequest) -> dict[str, Any]:
        """Keep a drawing as an example of ``label``, prepared as predictions are."""
        try:
            image = open_image(decoded_base64(body.image), name="drawing", max_pixels=MAX_IMAGE_PIXELS)
            prepared = preprocess(image, name="drawing")
            store.add(prepared.input, body.label, body.kept_apart)
        except (DigitnetError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        return counted()

    @router.get("/api/drawings")
    def drawings() -> dict[str, Any]:
        """How many drawings are kept, per digit, to train on (``mine``) and to measure on (``kept``)."""
        return counted()

    @router.post(
        "/api/fine-tune",
        status_code=202,
        dependencies=local,
        responses={
            404: {"model": Error, "description": "unknown model"},
            409: {"model": Error, "description": "a training is running"},
            422: {"model": Error, "description": "no drawings to learn from"},
        },
    )
    def fine_tune(body: FineTuneRequest) -> dict[str, Any]:
        """Fine-tune a served model on the drawings; a new model, the original untouched."""
        if body.model not in models:
            raise HTTPException(404, f"unknown model {body.model!r}; GET /api/models lists {sorted(models)}")
        mine, kept = store.load("mine"), store.load("kept")
        if not len(mine[0]):
            raise HTTPException(
                422, "no drawings to learn from yet: add some with 'Add as' on the drawing pad"
            )
        try:
            return session.fine_tune(body.model, models[body.model], mine, kept, body.epochs)
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None

    return router
