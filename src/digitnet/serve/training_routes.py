"""The training view's API: the settings a page may change, start, pause, resume, stop, and the live events.

=================================  ==========================================================================
``GET /api/train/settings``        the presets offered and the settings a learner changes first, each with
                                   its help, kind, choices and range: rows of the one settings table
                                   (:mod:`digitnet.training.settings`), so the page has no copy of its own
``POST /api/train``                ``{"preset": ..., "settings": {name: text}}``: 202 and the status; 409
                                   while another training runs; 422 naming a bad setting, as ``digitnet
                                   train`` would (and the page's own bounds: :data:`PAGE_LIMITS`)
``POST /api/train/pause``, ...     ``/resume``, ``/stop``: the status; 409 when there is nothing to do it to
``GET /api/train/events``          Server-Sent Events (``after=N`` resumes after event N), see
                                   :mod:`digitnet.serve.training_session`; the stream ends with the training
=================================  ==========================================================================

The same origin and host checks as the prediction API guard these routes (they are in the same app).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from digitnet.serve.schema import Error
from digitnet.serve.training_session import Busy, TrainingSession
from digitnet.training.presets import PRESETS, get_preset
from digitnet.training.settings import SETTINGS

__all__ = ["PAGE_LIMITS", "PAGE_PRESETS", "PAGE_SETTINGS", "TrainRequest", "training_router"]

PAGE_PRESETS = ("seeds", "default", "lenet5")
"""The explainers' 784-16-16-10 (sigmoid, quadratic, SGD), the default 784-100-10, and LeNet-5."""

PAGE_SETTINGS = (
    "hidden",
    "activation",
    "cost",
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "epochs",
    "l2",
    "dropout",
    "train_size",
)
"""The settings a learner tries first; the rest stay as the preset has them."""

PAGE_LIMITS = {"epochs": 100, "hidden": 1024, "layers": 4, "train_size": 50_000}
"""A page trains on the server's cores while it answers predictions: at most 100 epochs, 4 hidden layers of
at most 1,024 units, 50,000 training images (the rest of MNIST's 60,000 is the validation split)."""


class TrainRequest(BaseModel):
    preset: str = Field("seeds", max_length=64)
    settings: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=64)


LOOPBACK = ("127.0.0.1", "::1")


def from_this_machine(request: Request) -> None:
    """Refuse (403) a request that changes what the server trains or keeps unless it comes from this machine
    (``digitnet serve --remote-training`` lets other machines in): with ``--host 0.0.0.0`` the drawing page
    is for everyone on the network, the server's cores and disk are not."""
    if getattr(request.app.state, "remote_training", False):
        return
    host = request.client.host if request.client is not None else ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise HTTPException(
            403,
            "training, fine-tuning and keeping drawings are for this machine only; start digitnet serve "
            "with --remote-training to let other machines use them",
        )


def training_router(session: TrainingSession) -> APIRouter:
    router = APIRouter()
    local = [Depends(from_this_machine)]
    busy = {409: {"model": Error, "description": "a training is already running, or none to act on"}}

    @router.get("/api/train/settings")
    async def settings() -> dict[str, Any]:
        """The presets and settings the training view offers, from the settings table."""
        rows = [SETTINGS[name] for name in PAGE_SETTINGS]
        return {
            "presets": {
                name: {
                    "description": PRESETS[name][0],
                    "architecture": get_preset(name).architecture,
                    "values": {row.name: row.show(getattr(get_preset(name), row.name)) for row in rows},
                }
                for name in PAGE_PRESETS
            },
            "settings": [
                {
                    "name": row.name,
                    "kind": row.kind,
                    "help": row.help,
                    "expects": row.expects,
                    "choices": list(row.choices or ()),
                    "none_means": row.none_means,
                }
                for row in rows
            ],
            "limits": PAGE_LIMITS,
            "status": session.status(),
        }

    @router.post(
        "/api/train",
        status_code=202,
        dependencies=local,
        responses={**busy, 422: {"model": Error, "description": "a setting out of its range"}},
    )
    async def start(body: TrainRequest) -> dict[str, Any]:
        """Start a training from a preset and settings written as ``digitnet train`` takes them."""
        try:
            config = page_config(body)
            return session.start(config, f"page: {body.preset}")
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    for action in ("pause", "resume", "stop"):
        router.add_api_route(
            f"/api/train/{action}",
            _acting(session, action),
            methods=["POST"],
            responses=busy,
            dependencies=local,
        )

    @router.get("/api/train/events")
    async def events(request: Request, after: int = -1) -> StreamingResponse:
        """The training's events as Server-Sent Events, from event ``after`` on."""

        last = request.headers.get("last-event-id", "")  # EventSource's own resume point, when it reconnects
        seq = max(after, int(last) if last.isdigit() else -1)

        async def stream():
            nonlocal seq
            yield f"event: status\ndata: {json.dumps(session.status())}\n\n"
            while not session.closing.is_set() and not await request.is_disconnected():
                for event in session.events_after(seq):
                    seq = event["seq"]
                    yield f"id: {seq}\ndata: {json.dumps(event)}\n\n"
                if session.finished and not session.events_after(seq):
                    return  # the training ended and everything was sent: the page stops listening
                await asyncio.sleep(0.1)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return router


def _acting(session: TrainingSession, action: str):
    async def act() -> dict[str, Any]:
        if action == "stop" and session.finished:
            raise HTTPException(409, f"no training to stop: the last one is {session.state}")
        try:
            return getattr(session, action)()
        except Busy as exc:
            raise HTTPException(409, str(exc)) from None

    act.__name__ = f"{action}_training"
    act.__doc__ = f"{action.capitalize()} the training."
    return act


def page_config(body: TrainRequest):
    """The configuration a page asks for: its preset with the settings read by the settings table, within
    :data:`PAGE_LIMITS`; ValueError naming what is wrong."""
    if body.preset not in PAGE_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PAGE_PRESETS)}, got {body.preset!r}")
    unknown = sorted(set(body.settings) - set(PAGE_SETTINGS))
    if unknown:
        raise ValueError(f"the page does not set {', '.join(unknown)}; it sets {', '.join(PAGE_SETTINGS)}")
    changes = {name: SETTINGS[name].parse(value) for name, value in body.settings.items()}
    config = get_preset(body.preset).replace(**changes, workers=1, pen_digits=0)
    if config.validation_size == 0:
        config = config.replace(validation_size=10_000)  # the page shows validation accuracy
    if config.epochs > PAGE_LIMITS["epochs"]:
        raise ValueError(f"epochs must be at most {PAGE_LIMITS['epochs']} here, got {config.epochs}")
    if len(config.hidden) > PAGE_LIMITS["layers"] or any(h > PAGE_LIMITS["hidden"] for h in config.hidden):
        raise ValueError(
            f"hidden must be at most {PAGE_LIMITS['layers']} layers of at most {PAGE_LIMITS['hidden']:,} "
            f"units here, got {SETTINGS['hidden'].show(config.hidden)}"
        )
    if config.train_size is not None and config.train_size > PAGE_LIMITS["train_size"]:
        raise ValueError(
            f"train_size must be at most {PAGE_LIMITS['train_size']:,}, got {config.train_size:,}"
        )
    return config
