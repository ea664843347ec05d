"""Who may call the API and how much they may send: ASGI middleware that runs before the app.

- ``OriginCheck`` refuses with 403 a request for a host name the server does not answer to (the ``Host``
  header; this stops DNS rebinding), and a request made by another web page (a foreign ``Origin``, or a
  cross-site fetch without one).
- ``Cors`` gives the pages allowed with ``digitnet serve --allow-origin`` what a browser needs before it
  lets them call the API and read the answers: preflight answers and ``Access-Control-Allow-Origin``.
- ``BodyLimit`` refuses a body over ``MAX_BODY_BYTES`` with 413, before it is read in full; one that does
  not arrive within ``BODY_SECONDS`` with 408; and, while ``MAX_BODIES_BYTES`` of bodies are in memory
  already, another with 503.

Every refusal is JSON, ``{"detail": "what was wrong and what to do"}``, like every other 4xx of the API.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

__all__ = [
    "BODY_SECONDS",
    "MAX_BODIES_BYTES",
    "MAX_BODY_BYTES",
    "BodyLimit",
    "Cors",
    "OriginCheck",
    "parse_host",
    "parse_origin",
]

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted: a 28x28 drawing or a phone photo fits, a flood does not."""

LOCAL_NAMES = frozenset({"localhost"})
"""Host names every server answers to; IP addresses (127.0.0.1, [::1], a LAN address) always pass."""

HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
"""A DNS name as ``--allow-host`` takes it: dot-separated labels (underscores too, as container names)."""


def parse_origin(url: str) -> str:
    """The origin ``scheme://host[:port]`` that a browser would send for ``url``, as the server compares it.

    Lower case, no default port: ``"HTTP://LocalHost:80"`` -> ``"http://localhost"``. Raises ValueError
    for anything that is not an http(s) origin (a path, a query, a user name, no host, a bad port).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or over 65535
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or url != url.strip()
    ):
        raise ValueError(f"expected an origin like http://localhost:3000 (scheme://host[:port]), got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 keeps its brackets
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def parse_host(text: str) -> str:
    """A host name as the ``Host`` check compares it: ``"MyBox.Local"`` -> ``"mybox.local"``.

    An IP address comes back in its usual form, without brackets (``"[::1]"`` -> ``"::1"``). Raises
    ValueError for anything else: a port, a scheme, a path, spaces.
    """
    name = text.lower()
    ip = _ip_or_none(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    if ip is not None:
        return str(ip)
    if not HOST_NAME.fullmatch(name):
        raise ValueError(f"expected a host name such as mybox.local, without scheme or port, got {text!r}")
    return name


class OriginCheck:
    """ASGI middleware: refuse requests for other host names or from other web pages with 403.

    **Host.** A request passes if its ``Host`` header names localhost, an IP address, or one of
    ``hosts``; a request without ``Host`` passes (not a browser). This stops DNS rebinding: a page at
    ``http://evil.example:8000`` whose owner then points ``evil.example`` at 127.0.0.1 reaches this server
    with ``Host: evil.example:8000`` and ``Origin: http://evil.example:8000``, which agree. An IP address
    is safe to accept: a page can only send one as ``Host`` if its own address is that IP.

    **Origin.** A browser sends ``Origin`` with every cross-origin request and every POST; a request
    passes if its ``Origin`` is this server's own (the request's scheme and ``Host``) or in ``allowed``.
    A request without ``Origin`` passes (curl, scripts), unless the browser marks it as coming from
    another site (``Sec-Fetch-Site: cross-site`` or ``same-site``, e.g. an ``<img>`` or ``<script>``
    there) and it is not a plain GET that follows a link to this server (``Sec-Fetch-Mode: navigate``),
    which shows the page to the user but nothing to the page that linked.

    Parameters
    ----------
    app : ASGI application
        What a request that passes goes on to.
    allowed : iterable of str
        Origins besides the server's own, ``scheme://host[:port]``; their hosts pass the Host check too.
    hosts : iterable of str
        Host names besides localhost and IP addresses that requests may be addressed to (``parse_host``).
    """

    def __init__(self, app, allowed: Iterable[str] = (), hosts: Iterable[str] = ()):
        self.app, self.allowed = app, frozenset(parse_origin(url) for url in allowed)
        origin_hosts = {urlsplit(url).hostname for url in self.allowed}
        self.hosts = LOCAL_NAMES | {parse_host(name) for name in hosts} | origin_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal:
            return await _refuse(send, 403, refusal)
        await self.app(scope, receive, send)

    def refusal(self, scope) -> str | None:
        """Why this request is refused, or None if it passes."""
        headers = {k: v.decode("latin-1") for k, v in scope.get("headers") or []}  # names are lower case
        host = headers.get(b"host")
        if host is not None and not self.host_allowed(host):
            return self.host_refusal(host)
        origin = headers.get(b"origin")
        if origin is not None:
            own = _origin_or_none(f"{scope.get('scheme', 'http')}://{host or ''}")
            sent = _origin_or_none(origin)  # None for "null": a sandboxed page or a local file
            if sent is not None and (sent == own or sent in self.allowed):
                return None
            hint = f"; start digitnet serve with --allow-origin {sent} to allow it" if sent else ""
            mine = own or "unknown: no Host header"
            return f"cross-origin request refused: Origin {origin!r} is not this server's ({mine}){hint}"
        site, mode = headers.get(b"sec-fetch-site"), headers.get(b"sec-fetch-mode")
        navigation = mode == "navigate" and scope["method"] in ("GET", "HEAD")
        if site in ("cross-site", "same-site") and not navigation:
            return (
                f"cross-site request refused: the browser sent Sec-Fetch-Site: {site} and no Origin; "
                "only this server's own pages may call the API"
            )
        return None

    def host_allowed(self, header: str) -> bool:
        """Whether ``header``, a ``Host`` header such as ``"localhost:8000"``, names this server."""
        name = _host_name(header)
        return name is not None and (name in self.hosts or _ip_or_none(name) is not None)

    def host_refusal(self, header: str) -> str:
        names = ", ".join(sorted(self.hosts))
        name = _host_name(header)
        hint = (
            f"; if you reach this server by that name, start digitnet serve with --allow-host {name}"
            if name and HOST_NAME.fullmatch(name)
            else ""
        )
        return (
            f"request for host {header!r} refused: this server answers to IP addresses and {names} "
            f"only, so that a web page elsewhere cannot reach it under a name of its own (DNS "
            f"rebinding){hint}"
        )


def _host_name(header: str) -> str | None:
    """``"LocalHost:8000"`` -> ``"localhost"``, ``"[::1]:8000"`` -> ``"::1"``; None for a malformed header."""
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return None
    if not parts.hostname or parts.netloc != header or "@" in header or header.endswith(":"):
        return None  # a path, a user name, no name at all
    return parts.hostname  # lower case, IPv6 without brackets


def _ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _origin_or_none(text: str) -> str | None:
    try:
        return parse_origin(text)
    except ValueError:
        return None


class Cors(CORSMiddleware):
    """Starlette's CORS middleware for the ``allowed`` origins: GET and POST, with ``Content-Type``.

    A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an allowed page
    is answered 200; every answer to one gets ``Access-Control-Allow-Origin`` (so the page can read it,
    errors included) and may show it ``Retry-After``. A preflight asking for more (another method or
    header) is refused with 400 and a JSON ``detail``. Runs after ``OriginCheck``, which has refused
    every other page already.
    """

    def __init__(self, app, allowed: Iterable[str]):
        super().__init__(
            app,
            allow_origins=sorted(parse_origin(url) for url in allowed),
            allow_methods=("GET", "POST"),
            allow_headers=("Content-Type",),  # JSON bodies: not a CORS-safelisted type
            expose_headers=("retry-after",),  # the 503 says when to try again
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        kept = {k: v for k, v in response.headers.items() if k.startswith("access-control-") or k == "vary"}
        asked = request_headers.get("access-control-request-headers")
        detail = (
            f"CORS preflight refused ({response.body.decode()}): Origin {request_headers['origin']!r} "
            f"asked for {request_headers['access-control-request-method']}"
            + (f" with headers {asked}" if asked else "")
            + "; pages allowed with --allow-origin may send GET and POST with Content-Type"
        )
        return JSONResponse({"detail": detail}, status_code=400, headers=kept)


BODY_SECONDS = 20.0
"""Time a request's body may take to arrive in full: a 1 MB upload needs well under a second on a LAN
and a few on a slow phone link; a client that stops half-way holds its buffer no longer than this."""


MAX_BODIES_BYTES = 32_000_000
"""Most bytes of request bodies held at once, all requests together: 32 full-size uploads. A thousand
clients that each send 999,999 bytes and stop cost 32 MB, not a gigabyte; the others are told to retry."""


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413, by header or while streaming; bodies not
    received in full within ``seconds`` with 408, closing the connection (the unfinished upload is
    dropped); and a body that would take the bytes held by all requests in progress over ``budget`` with
    503 and ``Retry-After``. A request's bytes count against the budget until its answer is sent."""

    def __init__(
        self, app, limit: int = MAX_BODY_BYTES, seconds: float = BODY_SECONDS, budget: int = MAX_BODIES_BYTES
    ):
        self.app, self.limit, self.seconds, self.budget = app, limit, seconds, budget
        self.held = 0  # bytes of bodies received by requests in progress (one event loop: no lock needed)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        seen, complete = 0, False
        deadline = asyncio.get_running_loop().time() + self.seconds

        async def limited_receive():
            nonlocal seen, complete
            if complete:  # the body is in: what follows (a disconnect) may take as long as it takes
                return await receive()
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(left, 0.001))
            except asyncio.TimeoutError:
                raise _TooSlow from None
            size = len(message.get("body", b""))
            if seen + size > self.limit:
                raise _TooLarge
            if self.held + size > self.budget:
                raise _Busy
            seen += size
            self.held += size
            complete = message.get("type") != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _too_large(send, self.limit)
        except _TooSlow:
            detail = f"the request body did not arrive within {self.seconds:g} s; send it again"
            await _refuse(send, 408, detail, {"connection": "close"})
        except _Busy:
            detail = (
                f"the server is receiving other uploads ({self.budget:,} bytes in memory); "
                "send it again in a few seconds"
            )
            await _refuse(send, 503, detail, {"retry-after": "5"})
        finally:
            self.held -= seen


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Busy(Exception):
    pass


async def _too_large(send, limit):
    await _refuse(send, 413, f"request body over {limit:,} bytes; send a smaller image")


async def _refuse(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
