"""Load benchmark of the prediction API: concurrent clients for a fixed time; prints throughput and latency.

Starts ``digitnet serve`` on a free port (or uses ``--url``), then runs ``--clients`` threads, each
posting one MNIST-style 28x28 digit after another to ``/api/predict`` over a kept-alive connection,
for ``--seconds``. Prints requests per second and the p50/p90/p99 latency, and writes them as JSON with
``--json``. A benchmark, not a test: the figures depend on the machine and what else it runs.

    python benchmarks/load_api.py --clients 16 --seconds 20
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def a_digit() -> bytes:
    """A hand-made "7" on a 28x28 canvas, the size a drawing page sends."""
    canvas = np.zeros((28, 28))
    canvas[6:9, 7:21] = 1.0
    for row in range(9, 23):
        col = 20 - (row - 9) // 2
        canvas[row, col - 1 : col + 2] = 1.0
    return json.dumps({"pixels": canvas.round(3).tolist()}).encode()


def client(url: str, body: bytes, stop: float, latencies: list[float], errors: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"content-type": "application/json"}
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            connection.request("POST", "/api/predict", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
        except OSError as exc:
            errors.append(str(exc))
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            continue
        latencies.append(time.perf_counter() - start)
    connection.close()


def wait_until_up(url: str, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url} within {seconds} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    parser.add_argument("--url", help="an already running server; default: start `digitnet serve`")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "digitnet", "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(url)
        body = a_digit()
        client(url, body, time.perf_counter() + 1.0, [], [])  # warm up
        latencies: list[float] = []
        errors: list[str] = []
        stop = time.perf_counter() + args.seconds
        threads = [
            threading.Thread(target=client, args=(url, body, stop, latencies, errors))
            for _ in range(args.clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    ms = np.array(latencies) * 1000
    figures = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['requests']:,} predictions in {figures['seconds']} s with {args.clients} clients: "
            f"{figures['requests_per_second']:,} per second; latency p50 {figures['p50_ms']} ms, "
            f"p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms; {len(errors)} errors"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
