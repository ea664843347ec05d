"""The server's connections are bounded: header timeout, a cap on open connections, a memory budget for
bodies. A real uvicorn server (in a thread, or in a child process where its memory is measured)."""

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from digitnet.modelfile import load_model
from digitnet.models import bundled_models
from digitnet.serve import create_app
from digitnet.serve.connections import GuardedConnection, open_file_limit, server_config

MLP_MODEL = bundled_models()["mlp"]
HEALTH = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def app():
    return create_app({"mlp": load_model(MLP_MODEL)}, "mlp", body_seconds=1.0)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _health(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/health", timeout=5) as reply:
        return json.loads(reply.read())


def test_a_silent_connection_is_closed_after_the_header_timeout(app, start_app, until_closed):
    with start_app(app, header_seconds=0.5) as url:
        s = socket.create_connection(("127.0.0.1", _port(url)))
        received, waited = until_closed(s, 5)
        assert received == b"" and 0.4 < waited < 3


def test_headers_sent_a_byte_at_a_time_do_not_keep_a_connection_open(app, start_app):
    with start_app(app, header_seconds=1.0) as url:
        s = socket.create_connection(("127.0.0.1", _port(url)))
        started = time.monotonic()
        with pytest.raises(OSError):  # the server closes it while the client still trickles
            for byte in HEALTH[:-2] * 10:
                s.send(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - started > 6:
                    pytest.fail("a trickle of header bytes kept the connection open over 6 s")
                s.settimeout(0.001)
                try:
                    if s.recv(1) == b"":
                        raise ConnectionResetError("closed by the server")
                except TimeoutError:
                    pass
        assert time.monotonic() - started < 3


def test_keep_alive_requests_still_work_and_the_next_request_has_its_own_deadline(
    app, start_app, until_closed
):
    with start_app(app, header_seconds=1.0) as url:
        s = socket.create_connection(("127.0.0.1", _port(url)))
        s.settimeout(5)
        for _ in range(3):  # three requests on one connection, each well within the deadline
            s.sendall(HEALTH)
            answer = b""
            while not answer.endswith(b"}"):
                answer += s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in answer
            time.sleep(0.6)  # more than half the deadline between requests: each one starts a new clock
        s.sendall(HEALTH[:20])  # then half a request, and nothing
        received, waited = until_closed(s, 5)
        assert received == b"" and waited < 3


def test_at_the_cap_a_new_connection_replaces_the_longest_idle_one(app, start_app, until_closed):
    with start_app(app, header_seconds=30, max_connections=5) as url:
        idle = [socket.create_connection(("127.0.0.1", _port(url))) for _ in range(5)]
        time.sleep(0.2)
        assert _health(url)["status"] == "ok"  # the sixth: answered, though five were open
        received, _ = until_closed(idle[0], 5)  # the oldest idle connection made room
        assert received == b""
        for s in idle[1:]:  # the others are still open
            s.settimeout(0.2)
            with pytest.raises(TimeoutError):
                s.recv(1)
            s.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(app, start_app, until_closed):
    with start_app(app, header_seconds=30, max_connections=3) as url:
        busy = []
        for _ in range(3):  # three uploads in progress: none of them is idle
            s = socket.create_connection(("127.0.0.1", _port(url)))
            s.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            busy.append(s)
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", _port(url)))
        received, _ = until_closed(s, 5)
        assert received.startswith(b"HTTP/1.1 503") and b"retry-after: 5" in received
        assert b"3 connections open, all busy" in received
        for s in busy:  # each is answered 408 when its body's deadline passes, and closed
            received, _ = until_closed(s, 5)
            assert received.startswith(b"HTTP/1.1 408")


def test_bodies_beyond_the_memory_budget_get_503_and_those_within_it_go_on(start_app, until_closed):
    app = create_app({"mlp": load_model(MLP_MODEL)}, "mlp", body_seconds=2.0, body_budget=250_000)
    with start_app(app, header_seconds=3.0) as url:
        uploads = []
        for _ in range(4):  # 100 kB each of 400 kB bodies: the third takes the total over 250 kB
            s = socket.create_connection(("127.0.0.1", _port(url)))
            s.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 400000\r\n\r\n" + b" " * 100_000
            )
            uploads.append(s)
            time.sleep(0.2)
        answers = [until_closed(s, 6)[0] for s in uploads]
        assert [a[:12] for a in answers] == [b"HTTP/1.1 408"] * 2 + [b"HTTP/1.1 503"] * 2
        assert b"receiving other uploads (250,000 bytes in memory)" in answers[2]
        assert _health(url)["status"] == "ok"  # and the budget is free again: a full body goes through
        pixels = json.dumps({"pixels": [[0.0] * 28] * 14 + [[0.0] * 13 + [1.0] * 2 + [0.0] * 13] * 14})
        request = urllib.request.Request(
            url + "/api/predict", pixels.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert json.loads(reply.read())["digit"] in range(10)


SERVER = """
import sys
import uvicorn
from digitnet.modelfile import load_model
from digitnet.models import bundled_models
from digitnet.serve import create_app
from digitnet.serve.connections import server_config

models = {name: load_model(path) for name, path in bundled_models().items()}
app = create_app(models, "cnn", body_seconds=3.0)
config = server_config(app, "127.0.0.1", int(sys.argv[1]), header_seconds=3.0, log_level="warning")
uvicorn.Server(config).run()
"""


@contextlib.contextmanager
def _child_server(command: list[str], port: int, preexec=None):
    """Run a server ``command`` listening on ``port`` until the block ends; yields (url, process) once
    ``/api/health`` answers."""
    server = subprocess.Popen(command, preexec_fn=preexec, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                _health(url)
                break
            except OSError:
                time.sleep(0.1)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=10)


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


async def _unfinished_uploads(port: int, count: int) -> list[bytes]:
    """``count`` clients that each declare a 1,000,000-byte body, send 999,999 bytes and wait; what each
    receives until the server closes its connection."""
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )

    async def upload() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head + b" " * 999_999)
            await writer.drain()
        except ConnectionError:
            pass  # refused while sending: what it was told is read below
        try:
            return await asyncio.wait_for(reader.read(), 20)  # until the server closes it
        except ConnectionError:
            return b"reset"
        finally:
            writer.close()

    async def health() -> bytes:  # asked while the uploads hold their connections
        await asyncio.sleep(1.0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return answer

    *answers, health_answer = await asyncio.gather(*(upload() for _ in range(count)), health())
    assert health_answer.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in health_answer
    return answers


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's peak memory in /proc")
def test_a_thousand_unfinished_uploads_keep_the_server_small_and_answering(pick_port):
    if open_file_limit(1100) < 1100:
        pytest.skip("this process may not open 1,000 connections")
    port = pick_port()
    with _child_server([sys.executable, "-c", SERVER, str(port)], port) as (url, server):
        started = time.monotonic()
        uploads = asyncio.run(_unfinished_uploads(port, 1000))  # health answered meanwhile; all 1,000 closed
        closed_after = time.monotonic() - started
        assert _health(url)["status"] == "ok"
        assert all(a.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")) or a in (b"", b"reset") for a in uploads)
        assert sum(a.startswith(b"HTTP/1.1 408") for a in uploads) >= 20  # the budget's worth waited 3 s
        assert closed_after < 15
        assert _peak_rss_mb(server.pid) < 200


def test_server_config_checks_its_settings_and_uses_the_guarded_protocol(app):
    config = server_config(app, "127.0.0.1", 8000, header_seconds=2, max_connections=10)
    assert issubclass(config.http, GuardedConnection)
    assert (config.http.header_seconds, config.http.max_connections) == (2, 10)
    with pytest.raises(ValueError, match="header_seconds must be above 0"):
        server_config(app, "127.0.0.1", 8000, header_seconds=0)
    with pytest.raises(ValueError, match="max_connections must be at least 1"):
        server_config(app, "127.0.0.1", 8000, max_connections=0)


def test_a_thousand_idle_connections_do_not_lock_out_a_client(pick_port):
    """More idle connections than the usual open-file limit (1,024, set so here): digitnet serve raises
    its own limit, and still answers."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if open_file_limit(1200) < 1200 or hard != resource.RLIM_INFINITY and hard < 4200:
        pytest.skip("this machine's open-file limits do not allow 1,100 connections")
    port = pick_port()
    command = [sys.executable, "-m", "digitnet", "serve", "--port", str(port)]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),)
    with _child_server(command, port, *limit) as (url, _):
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1100)]
        try:
            assert _health(url)["status"] == "ok"
        finally:
            for s in idle:
                s.close()
