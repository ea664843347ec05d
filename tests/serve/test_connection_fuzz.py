"""Fuzzing the server's connections: any bytes, in any pieces, at any pace, get a 4xx (or 503) or a closed
connection, never a 5xx of the server's own, and the connection is closed within the timeouts.

Each example writes a request made of choices a careless or hostile client makes (methods, paths, headers
such as a wrong or missing ``Content-Length``, chunked bodies, huge headers; bodies of good and bad JSON,
forms and random bytes), cut into random pieces with pauses between them, or only a part of it, then
either stops writing (half-close) or just goes silent. The server runs as ``digitnet serve`` runs it, with
1-second header and body deadlines so that silent clients are dropped quickly; ``/api/health`` must answer
after each. (Without the header deadline, a client that stops inside its headers holds its connection.)
"""

import json
import socket
import time
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.modelfile import load_model
from digitnet.models import bundled_models
from digitnet.serve import create_app

PIXELS = json.dumps({"pixels": [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 18})
BODIES = [
    PIXELS.encode(),
    b'{"pixels": [["x"]]}',
    b'{"pixels": [' + b"[0.5]," * 5000 + b"[0.5]]}",
    b'{"image": "not base64!"}',
    b'{"image": "iVBORw0KGgo="}',
    b'{"pixels": [[0.1]], "model": "nope"}',
    b"{",
    b"",
    b"\xff\xfe\x00" * 50,
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n\x89PNG\r\n--b--\r\n',
]
HEADERS = st.sampled_from(
    [
        ("Host", "127.0.0.1"),
        ("Host", "evil.example"),
        ("Content-Type", "application/json"),
        ("Content-Type", "multipart/form-data; boundary=b"),
        ("Content-Type", "text/plain"),
        ("Transfer-Encoding", "chunked"),
        ("Origin", "http://elsewhere.example"),
        ("Connection", "close"),
        ("Expect", "100-continue"),
        ("X-Filler", "a" * 20_000),
    ]
) | st.tuples(
    st.sampled_from(["Content-Length", "Host", "X"]), st.sampled_from(["0", "5", "-1", "99999999", "x"])
)


@st.composite
def requests(draw) -> tuple[list[bytes], list[float], bool]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS", "G E T", ""]))
    path = draw(st.sampled_from(["/api/predict", "/api/health", "/", "/api/models", "/docs", "/%ff", "*"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9", ""]))
    body = draw(st.sampled_from(BODIES) | st.binary(max_size=200))
    headers = draw(st.lists(HEADERS, max_size=5))
    if draw(st.booleans()):
        headers.append(("Content-Length", str(len(body) + draw(st.sampled_from([0, 0, -1, 1, 1000])))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    data = head.encode("latin-1") + body
    if draw(st.booleans()):  # the client stops part-way: in the request line, the headers or the body
        data = data[: draw(st.integers(0, len(data)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    pauses = draw(st.lists(st.sampled_from([0.0, 0.01, 0.05]), min_size=len(pieces), max_size=len(pieces)))
    return pieces, pauses, draw(st.booleans())


@pytest.fixture(scope="module")
def url(start_app):
    app = create_app({"mlp": load_model(bundled_models()["mlp"])}, "mlp", body_seconds=1.0)
    with start_app(app, header_seconds=1.0) as served:
        yield served


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_any_request_at_any_pace_gets_an_answer_or_a_closed_connection(url, until_closed, request):
    pieces, pauses, half_close = request
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        try:
            for piece, pause in zip(pieces, pauses, strict=True):
                s.sendall(piece)
                time.sleep(pause)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed it already: what it said is read below
        received, _ = until_closed(s, 8)  # a second for the headers or the body, one after an answer
    assert received == b"" or received.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), received[:200]
    statuses = [int(line.split()[1]) for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.")]
    assert all(status < 500 or status == 503 for status in statuses), received[:500]
    with urllib.request.urlopen(url + "/api/health", timeout=5) as reply:
        assert json.loads(reply.read())["status"] == "ok"
