"""A slow prediction holds up nothing else: decoding and the network run in the thread pool.

A real uvicorn server in a thread, not TestClient, which would answer one request after the other.
"""

import json
import threading
import time
import urllib.request

from digitnet.modelfile import load_model
from digitnet.models import DEFAULT_MODEL
from digitnet.serve import api, create_app

SLOW = 2.0
"""Seconds the patched prediction takes: long against the health check's bound, so nothing can flake."""

FAST = 0.5
"""Most seconds /api/health may take while the slow prediction runs (it takes milliseconds)."""


def test_health_answers_fast_while_a_slow_prediction_runs(monkeypatch, start_app):
    started, real = threading.Event(), api.predict

    def slow_predict(*args):
        started.set()
        time.sleep(SLOW)  # a huge image, say: blocking work, as decoding and NumPy are
        return real(*args)

    monkeypatch.setattr(api, "predict", slow_predict)
    app = create_app({"default": load_model(DEFAULT_MODEL)}, "default")
    with start_app(app) as url:
        drawing = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
        slow = {}

        def post():
            body = json.dumps({"pixels": drawing}).encode()
            request = urllib.request.Request(
                url + "/api/predict", data=body, headers={"content-type": "application/json"}
            )
            begun = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as reply:
                slow["status"], slow["digit"] = reply.status, json.loads(reply.read())["digit"]
            slow["seconds"] = time.perf_counter() - begun

        poster = threading.Thread(target=post)
        poster.start()
        assert started.wait(10), "the prediction never started"
        waits = []
        for _ in range(3):
            begun = time.perf_counter()
            with urllib.request.urlopen(url + "/api/health", timeout=10) as reply:
                assert json.loads(reply.read())["status"] == "ok"
            waits.append(time.perf_counter() - begun)
        still_running = poster.is_alive()
        poster.join(30)
    assert max(waits) < FAST, f"/api/health took {max(waits):.2f} s while a prediction ran: it waited for it"
    assert still_running, "the slow prediction ended before the health checks did: the test proves nothing"
    assert slow["status"] == 200 and 0 <= slow["digit"] <= 9 and slow["seconds"] >= SLOW
