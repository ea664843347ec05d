"""How fast the server answers predictions while the training view trains: the README's figures.

Starts ``digitnet serve`` with the training view on a free port, times 60 predictions of a 28x28 grid one
after another (``POST /api/predict``) for the bundled ``mlp`` and ``cnn``, idle, then while the page's
784-16-16-10 and 784-100-10 train (started through ``POST /api/train`` and stopped after), and prints the
median and the 95th percentile of each::

    DIGITNET_DATA=../shared/data/mnist python benchmarks/training_latency.py

Timings depend on the CPU: the figures name it.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REQUESTS = 60


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "digitnet", "serve", "--port", str(port), "--runs", runs]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(url + "/api/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            pixels = [[1.0 if 4 <= r < 24 and 13 <= c < 15 else 0.0 for c in range(28)] for r in range(28)]

            def post(path: str, body: dict) -> dict:
                request = urllib.request.Request(
                    url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
                )
                return json.loads(urllib.request.urlopen(request, timeout=60).read())

            def measure(model: str) -> str:
                times = []
                for _ in range(REQUESTS):
                    start = time.perf_counter()
                    post("/api/predict", {"pixels": pixels, "model": model})
                    times.append(1000 * (time.perf_counter() - start))
                p95 = sorted(times)[int(0.95 * (len(times) - 1))]
                return f"median {statistics.median(times):.1f} ms, 95th percentile {p95:.1f} ms"

            for model in ("mlp", "cnn"):
                print(f"idle                      {model}: {measure(model)}", flush=True)
            for preset, epochs in (("seeds", "100"), ("default", "40")):
                post("/api/train", {"preset": preset, "settings": {"epochs": epochs}})
                time.sleep(1)
                for model in ("mlp", "cnn"):
                    print(f"while {preset:8} trains  {model}: {measure(model)}", flush=True)
                post("/api/train/stop", {})
                time.sleep(2)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
