"""The server's connections, bounded: how long a client may take to send a request, and how many may be open.

uvicorn on its own waits for a request's headers as long as the client likes, and keeps every connection it
accepts: a thousand clients that connect and send nothing (or a header a byte at a time) hold a thousand
connections and, past the process's open-file limit, leave ``/api/health`` unanswered. ``digitnet serve``
runs uvicorn with :class:`GuardedConnection` instead of its plain HTTP/1.1 protocol:

- **Header timeout.** A request's headers must arrive in full within ``header_seconds`` of the connection
  opening, or of the previous answer on it; a connection that stays silent, trickles, or keeps sending a
  body nobody is reading any more is closed then. (The body has its own deadline, see
  :class:`~digitnet.serve.guards.BodyLimit`; uvicorn's 5-second keep-alive closes an idle connection
  sooner.)
- **A cap on open connections.** With ``max_connections`` open, a new one takes the place of the
  connection that has waited longest for its next request; when every open connection is busy with a
  request, the new one is answered 503 and closed. A flood of idle connections therefore never locks
  out a real client.
- **Open files.** :func:`server_config` raises the process's soft limit on open files towards its hard
  limit so that the cap, not the operating system, is what bounds the connections.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEADER_SECONDS", "MAX_CONNECTIONS", "GuardedConnection", "open_file_limit", "server_config"]

HEADER_SECONDS = 10.0
"""Time a client has to send a request's headers (a few hundred bytes): ample on any real link."""

MAX_CONNECTIONS = 4096
"""Most connections open at once: a classroom of pages, each with a few connections, fits many times."""

READ_BYTES = 16 * 1024
"""Bytes read from a connection at a time (asyncio reads 256 KiB): what a connection whose body the app
has not asked for yet can hold, so that a thousand uploads arriving at once hold 16 MB, not 256 MB."""

SPARE_FILES = 64
"""Open files kept beside the connections: the model files, the page, the MNIST test set, logs."""


class GuardedConnection(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a header timeout and a cap on open connections (module docstring).

    The class attributes are the settings; :func:`server_config` makes a subclass with its own.
    """

    header_seconds: float = HEADER_SECONDS
    max_connections: int = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        transport.max_size = READ_BYTES  # asyncio's socket transport reads this much at a time
        self._header_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections and not self._make_room():
            _answer_busy(transport, f"the server has {self.max_connections} connections open, all busy")
            return
        self._await_request()

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.cycle is not self._answered:  # a request arrived
            self._header_timer.cancel()
            self._header_timer = None
            if not self.cycle.response_complete and self.conn.their_state is h11.SEND_BODY:
                self.flow.pause_reading()  # its body is read when the app asks for it (uvicorn resumes)

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._await_request()  # before uvicorn starts on a pipelined request, which disarms it again
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    @property
    def awaiting_request(self) -> bool:
        """Whether this connection is between requests: open and no request begun since the last answer."""
        return self._header_timer is not None

    def _await_request(self) -> None:
        """Start the clock for the next request's headers."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._answered, self._waiting_since = self.cycle, self.loop.time()  # cycle: None before a request
        self._header_timer = self.loop.call_later(self.header_seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is self._answered and not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for its next request; False if none is waiting."""
        waiting = [
            c for c in self.connections if c is not self and getattr(c, "awaiting_request", False)
        ]  # other protocols (none today) are never chosen
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since)
        oldest._header_timer.cancel()
        oldest._header_timer = None
        oldest.transport.close()
        return True


def _answer_busy(transport: asyncio.Transport, why: str) -> None:
    """Answer 503 with ``Retry-After`` on a connection before any request, and close it."""
    body = json.dumps({"detail": f"{why}; try again in a few seconds"}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    transport.write(head.encode() + body)
    transport.close()


def open_file_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files to ``wanted`` if its hard limit allows; the limit now.

    Where the operating system has no such limit (Windows), ``wanted``.
    """
    try:
        import resource
    except ImportError:  # Windows: no per-process limit of this kind
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a sandbox that refuses: keep what there is
            pass
    return target if soft == resource.RLIM_INFINITY else soft


def server_config(
    app: Any,
    host: str,
    port: int,
    header_seconds: float = HEADER_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
    **uvicorn_settings: Any,
) -> Config:
    """A uvicorn ``Config`` serving ``app`` on ``host:port`` through :class:`GuardedConnection`.

    The open-file limit is raised for ``max_connections`` plus :data:`SPARE_FILES`; where it cannot be,
    the cap is lowered to fit under it. ``uvicorn_settings`` go to ``Config`` as they are (``log_level``).
    """
    if not header_seconds > 0:
        raise ValueError(f"header_seconds must be above 0, got {header_seconds}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    files = open_file_limit(max_connections + SPARE_FILES)
    settings = {
        "header_seconds": header_seconds,
        "max_connections": max(1, min(max_connections, files - SPARE_FILES)),
    }
    protocol = type("GuardedConnection", (GuardedConnection,), settings)
    uvicorn_settings.setdefault("loop", "asyncio")  # the loop whose transports READ_BYTES applies to
    # a training view's event stream lasts as long as its training: on Ctrl-C, wait for it 2 s, not forever
    uvicorn_settings.setdefault("timeout_graceful_shutdown", 2)
    return Config(app, host=host, port=port, http=protocol, **uvicorn_settings)
