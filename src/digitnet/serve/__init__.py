"""The prediction API and the drawing page: ``digitnet serve``."""

from digitnet.serve.api import MAX_BODY_BYTES, create_app

__all__ = ["MAX_BODY_BYTES", "create_app"]
