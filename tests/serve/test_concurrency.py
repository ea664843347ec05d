"""Images are decoded and predicted on threads of their own: a slow one holds up nothing else, and too
many get 503. (A 28x28 ``pixels`` grid is answered on the event loop: about 1.5 ms, less than a thread
handoff costs.)

A real uvicorn server in a thread, not TestClient, which would answer one request after the other.
Nothing here measures time: a held prediction waits on a ``threading.Event`` that the test sets once it
has seen what it came for, so every outcome is decided by order, not speed. ``GUARD`` only keeps a
broken server from hanging the suite.
"""

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL
from digitnet.serve import api, create_app, prediction

GUARD = 30
"""Seconds before a test gives up waiting for something that must happen: a failure guard, never what
is measured (a server that answered /api/health only after the held prediction would fail here)."""

DRAWING = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
"""A vertical bar, some ink for the network to read."""

PNG = io.BytesIO()
Image.fromarray((np.array(DRAWING) * 255).astype(np.uint8)).save(PNG, "PNG")
IMAGE = base64.b64encode(PNG.getvalue()).decode()
"""The drawing as a PNG file, base64-encoded: what goes to the prediction threads."""


class Held:
    """Stands in for ``prediction.predict``: the first ``held`` calls wait for ``release``; counts calls and
    the most that ran at once."""

    def __init__(self, real, held: int = 1):
        self.real, self.held = real, held
        self.started, self.release, self.lock = threading.Event(), threading.Event(), threading.Lock()
        self.calls = self.running = self.most = 0

    def __call__(self, *args):
        with self.lock:
            self.calls += 1
            hold = self.calls <= self.held
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if hold:
                self.started.set()
                if not self.release.wait(GUARD):
                    raise RuntimeError("the test never released the held prediction")
            return self.real(*args)
        finally:
            with self.lock:
                self.running -= 1


def post(url: str) -> tuple[int, dict, dict]:
    """POST the drawing as an image to ``/api/predict``: (status, JSON answer, headers), refusals included."""
    body = json.dumps({"image": IMAGE}).encode()
    request = urllib.request.Request(
        url + "/api/predict", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=GUARD) as reply:
            return reply.status, json.loads(reply.read()), dict(reply.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read()), dict(refused.headers)


def in_background(url: str) -> tuple[threading.Thread, list]:
    """Start ``post(url)`` in a thread; its answer lands in the returned list."""
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(post(url)), daemon=True)
    thread.start()
    return thread, answers


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} had not happened after {GUARD} s")
        time.sleep(0.01)


def app_with_held_predictions(monkeypatch, threads=None, waiting=None):
    """The app on the default model, its predictions held until released: (app, the Held predict).
    ``threads`` and ``waiting`` size its prediction queue (the server's own sizes when None)."""
    if threads is not None:
        monkeypatch.setattr(api, "PREDICTION_THREADS", threads)  # read by create_app
    if waiting is not None:
        monkeypatch.setattr(api, "MAX_WAITING", waiting)
    held = Held(prediction.predict)
    monkeypatch.setattr(prediction, "predict", held)  # what the prediction router calls
    return create_app({"default": load_model(MLP_MODEL)}, "default"), held


def test_other_requests_are_answered_while_a_prediction_is_held(monkeypatch, start_app):
    app, held = app_with_held_predictions(monkeypatch)
    with start_app(app) as url:
        poster, answers = in_background(url)
        assert held.started.wait(GUARD), "the prediction never started"
        with urllib.request.urlopen(url + "/api/health", timeout=GUARD) as reply:
            assert json.loads(reply.read())["status"] == "ok"
        with urllib.request.urlopen(url + "/api/models", timeout=GUARD) as reply:
            assert json.loads(reply.read())[0]["name"] == "default"
        status, answer, _ = post(url)  # the second prediction thread answers meanwhile
        assert status == 200 and 0 <= answer["digit"] <= 9
        assert poster.is_alive() and not answers, "the held prediction answered before it was released"
        held.release.set()
        poster.join(GUARD)
    assert answers and answers[0][0] == 200 and 0 <= answers[0][1]["digit"] <= 9
    assert held.most == 2 == api.PREDICTION_THREADS


def test_a_full_line_is_answered_503_with_retry_after(monkeypatch, start_app):
    app, held = app_with_held_predictions(monkeypatch, threads=1, waiting=1)
    with start_app(app) as url:
        first, first_answers = in_background(url)
        assert held.started.wait(GUARD), "the prediction never started"
        second, second_answers = in_background(url)
        wait_until(lambda: app.state.predictions.waiting == 1, "the second prediction waiting")
        status, answer, headers = post(url)  # one running, one waiting: no room for a third
        assert status == 503 and "busy" in answer["detail"] and headers["retry-after"] == "1"
        assert held.calls == 1, "the waiting prediction ran beside the held one"
        held.release.set()
        first.join(GUARD)
        second.join(GUARD)
        assert [a[0] for a in first_answers + second_answers] == [200, 200]
        assert post(url)[0] == 200  # the line is free again
    assert held.most == 1 and held.calls == 3


def test_a_pixels_grid_is_answered_even_while_every_thread_is_held(monkeypatch, start_app):
    app, held = app_with_held_predictions(monkeypatch, threads=1, waiting=0)
    with start_app(app) as url:
        poster, answers = in_background(url)
        assert held.started.wait(GUARD), "the prediction never started"
        assert post(url)[0] == 503  # the one thread is busy and no image may wait
        request = urllib.request.Request(
            url + "/api/predict",
            data=json.dumps({"pixels": DRAWING}).encode(),
            headers={"content-type": "application/json"},
        )
        held.held = 0  # the grid's own call to predict must not be held
        with urllib.request.urlopen(request, timeout=GUARD) as reply:
            assert reply.status == 200 and 0 <= json.loads(reply.read())["digit"] <= 9
        held.release.set()
        poster.join(GUARD)
    assert answers and answers[0][0] == 200


def test_prediction_queue_refuses_nonsense_sizes():
    with pytest.raises(ValueError, match="threads=0"):
        api.PredictionQueue(threads=0)
    with pytest.raises(ValueError, match="waiting=-1"):
        api.PredictionQueue(waiting=-1)


def test_an_upload_that_stops_half_way_is_dropped_with_408_and_the_server_stays_free(start_app):
    """A client that sends part of its body and then nothing holds its buffer only ``body_seconds``."""
    import socket

    app = create_app({"default": load_model(MLP_MODEL)}, "default", body_seconds=1.0)
    with start_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for _ in range(20):  # twenty unfinished uploads at once
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n" + b'{"pixels": [' + b"0.0, " * 1000
            )
            slow.append(s)
        with urllib.request.urlopen(url + "/api/health", timeout=5) as reply:  # answered meanwhile
            assert json.loads(reply.read())["status"] == "ok"
        started = time.monotonic()
        answers = []
        for s in slow:
            s.settimeout(10)
            answer = b""
            while b"send it again" not in answer and (chunk := s.recv(4096)):  # headers, then the body
                answer += chunk
            answers.append(answer)
            s.close()
        assert all(a.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 s" in a for a in answers)
        assert time.monotonic() - started < 5
