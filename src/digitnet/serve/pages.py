"""The server's pages and its pulse: the drawing page at ``/``, the training view at ``/train``, the
offline API page at ``/docs`` and ``GET /api/health``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from digitnet.version import __version__

__all__ = ["DOCS_PAGE", "PAGE", "TRAIN_PAGE", "pages_router"]

PAGE = Path(__file__).with_name("static") / "index.html"
"""The drawing page served at ``/``."""

TRAIN_PAGE = Path(__file__).with_name("static") / "train.html"
"""The training view at ``/train``: a network learning, batch by batch (its API:
:mod:`digitnet.serve.training_routes`)."""

DOCS_PAGE = Path(__file__).with_name("static") / "docs.html"
"""The API's description at ``/docs``: it shows ``/openapi.json`` with no external script (works offline)."""


def pages_router(models: dict, watch_only: bool = False) -> APIRouter:
    """``/``, ``/train``, ``/docs`` and ``/api/health`` for a server of ``models`` (counted as they are); with
    ``watch_only`` (``digitnet train --watch``, no drawing pad) ``/`` leads to ``/train``."""
    router = APIRouter()

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False, response_model=None)
    def page() -> HTMLResponse | RedirectResponse:  # HEAD: link checkers, curl -I
        if watch_only:
            return RedirectResponse("/train")
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @router.api_route("/train", methods=["GET", "HEAD"], include_in_schema=False)
    def train_page() -> HTMLResponse:
        return HTMLResponse(TRAIN_PAGE.read_text(encoding="utf-8"))

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.read_text(encoding="utf-8"))

    @router.get("/api/health")
    async def health() -> dict[str, Any]:
        """Whether the server is up. Answered on the event loop: fast however busy the thread pool is."""
        return {"status": "ok", "version": __version__, "models": len(models)}

    return router
