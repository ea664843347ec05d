"""What refusing a hostile image costs: time and memory of ``open_image`` and of ``digitnet predict``.

The security review found a 174 kB 6300x6300 PNG costing the API 5-7 s and 1.65 GB, and a 451 kB
12000x12000 PNG costing ``digitnet predict`` 24 s and 4.7 GB. This script writes such files (valid PNGs,
RGB, every row present, all black), plus a few other hostile files, and measures for each:

* ``open_image`` in a fresh process: the call's wall time, the peak of Python's allocations during it
  (tracemalloc, which also sees NumPy's), and how far the process's peak resident memory (ru_maxrss) rose
  over its own level after the imports, which counts what Pillow and libjpeg allocate in C;
* ``digitnet predict`` on the file, as a child process: its wall time (interpreter start-up and imports
  included) and its peak resident memory, with a small valid digit as the baseline for both.

Targets: refused in under 0.5 s and under 100 MB. ``--pillow`` also times what the old code did, a plain
``Image.open(...).load()`` (slow: seconds and gigabytes).

``--api`` also starts ``digitnet serve`` and, for each file, posts it to ``/api/predict`` from one thread
for two seconds while another asks ``/api/health`` every 10 ms: the hostile request's status and median
time, the slowest health answer, and the server's peak resident memory (VmHWM) at the end.

    python benchmarks/hostile_images.py [--pillow] [--api]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

from digitnet.models import DEFAULT_MODEL

PROBE = r"""
import json, resource, sys, time, tracemalloc
from digitnet.imaging import open_image
from digitnet.errors import ImageError
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
start = time.perf_counter()
try:
    image = open_image(sys.argv[1])
    outcome = f"decoded, {image.width}x{image.height}"
except ImageError as e:
    outcome = f"{type(e).__name__}: {e}"
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"seconds": seconds, "traced": peak, "rss_rise": rise * 1024, "outcome": outcome}))
"""

PILLOW = r"""
import sys, time, warnings
from PIL import Image
warnings.simplefilter("ignore")
Image.MAX_IMAGE_PIXELS = None  # what a permissive server does; the old code at least got a warning
start = time.perf_counter()
Image.open(sys.argv[1]).load()
print(time.perf_counter() - start)
"""


def black_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of ``width x height`` black pixels, streamed: it never holds the image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter type 0, then the row's black pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, colour type 2: RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def progressive_jpeg_claiming(side: int) -> bytes:
    """A small progressive JPEG whose header says ``side x side``: libjpeg would buffer it whole."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "JPEG", progressive=True, subsampling=0)
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc2")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def first_scan_only(data: bytes) -> bytes:
    """A JPEG cut after its first scan and closed with EOI: one scan, but libjpeg still buffers a progressive
    one whole (the old code decoded it at 1/8: 549 MB for a 16000x16000 grey one)."""
    first = data.find(b"\xff\xda")
    return data[: data.find(b"\xff\xda", first + 2)] + b"\xff\xd9"


def scan_bomb(side: int, repeats: int) -> bytes:
    """A valid progressive JPEG with its last scan repeated: each repeat is another pass over the image."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 255).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    last = data.rfind(b"\xff\xda")
    return data[:-2] + data[last:-2] * repeats + b"\xff\xd9"


def tiff_one_huge_tile() -> bytes:
    """A 16x16 deflate TIFF stored in one 16384x16384 tile: libtiff would allocate the whole tile."""
    data = zlib.compress(bytes(1024))
    start = 8 + 2 + 10 * 12 + 4
    tags = {256: 16, 257: 16, 258: 8, 259: 8, 262: 1, 277: 1, 322: 16384, 323: 16384, 324: start}
    tags[325] = len(data)
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in sorted(tags.items()))
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + struct.pack("<I", 0) + data


def small_digit() -> bytes:
    image = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(image).line([(40, 20), (80, 20), (55, 100)], fill=0, width=9)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 4 4 moveto 24 24 lineto stroke\nshowpage\n"


LAUNCHER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": peak, "output": done.stdout}))
"""


def child(args: list[str]) -> tuple[float, int, str]:
    """Run a command; its wall time, peak resident memory in bytes, and the last line it wrote.

    Through a small launcher process: Linux charges a child the peak resident memory of the process it
    was forked from, up to its exec, so forked straight from this one it would never show less than ours.
    """
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args], capture_output=True, text=True, check=True
    )
    result = json.loads(launched.stdout)
    lines = result["output"].strip().splitlines()
    return result["seconds"], result["peak"], lines[-1] if lines else ""


def post_file(connection: http.client.HTTPConnection, name: str, data: bytes) -> int:
    """POST ``data`` to /api/predict as a multipart form's ``file``; the answer's status."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection.request(
        "POST", "/api/predict", body, {"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    response = connection.getresponse()
    response.read()
    return response.status


def attack(port: int, name: str, data: bytes, stop: float, times: list, statuses: set) -> None:
    """Post ``data`` again and again until ``stop``, recording each answer's time and status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.perf_counter() < stop:
        start = time.perf_counter()
        statuses.add(post_file(connection, name, data))
        times.append(time.perf_counter() - start)


def api_under_attack(files: dict[str, bytes], seconds: float = 2.0) -> None:
    """Each file posted in a loop for ``seconds`` while /api/health is timed every 10 ms."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "digitnet", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                health = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                health.request("GET", "/api/health")
                health.getresponse().read()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("digitnet serve did not answer within 30 s") from None
                time.sleep(0.1)
        print(
            f"\n{'API: file':26s} {'status':>6s} {'requests':>8s} {'median':>9s}   "
            f"{'slowest /api/health':>19s}"
        )
        for name, data in files.items():
            stop, times, statuses = time.perf_counter() + seconds, [], set()

            attacker = threading.Thread(target=attack, args=(port, name, data, stop, times, statuses))
            attacker.start()
            slowest = 0.0
            while attacker.is_alive():
                start = time.perf_counter()
                health.request("GET", "/api/health")
                health.getresponse().read()
                slowest = max(slowest, time.perf_counter() - start)
                time.sleep(0.01)
            attacker.join()
            status = ",".join(map(str, sorted(statuses)))
            print(
                f"{name:26s} {status:>6s} {len(times):8d} {statistics.median(times) * 1000:6.1f} ms"
                f"   {slowest * 1000:16.1f} ms"
            )
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        print(f"server's peak resident memory over all of it: {int(peak) / 1e3:.0f} MB")
    finally:
        server.terminate()
        server.wait()


def mb(n: float) -> str:
    return f"{n / 1e6:7.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pillow", action="store_true", help="also time a plain Pillow decode (slow)")
    parser.add_argument("--api", action="store_true", help="also post each file to a running digitnet serve")
    args = parser.parse_args()
    files = {
        "png-12000x12000": black_png(12000, 12000),
        "png-6300x6300": black_png(6300, 6300),
        "jpeg-progressive-13000": progressive_jpeg_claiming(13000),
        "jpeg-progressive-1-scan": first_scan_only(progressive_jpeg_claiming(16000)),
        "jpeg-2000-scans": scan_bomb(2000, 2000),
        "tiff-huge-tile": tiff_one_huge_tile(),
        "eps": EPS,
        "digit-120x120 (baseline)": small_digit(),
    }
    floor = child(["true"])[1]
    print(f"peak memory of an empty child (the launcher's floor): {mb(floor).strip()}")
    with tempfile.TemporaryDirectory() as folder:
        print(
            f"{'file':26s} {'bytes':>9s}  open_image: {'time':>7s} {'traced':>10s} {'rss rise':>10s}"
            f"   predict: {'time':>7s} {'peak rss':>10s}"
        )
        outcomes = {}
        for name, data in files.items():
            path = Path(folder) / name.split()[0]
            path.write_bytes(data)
            probe = child([sys.executable, "-c", PROBE, str(path)])[2]
            measured = json.loads(probe)
            predict_s, predict_rss, line = child(
                [sys.executable, "-m", "digitnet", "predict", str(DEFAULT_MODEL), str(path)]
            )
            ms = measured["seconds"] * 1000
            print(
                f"{name:26s} {len(data):9,d}  {ms:9.1f} ms {mb(measured['traced'])} "
                f"{mb(measured['rss_rise'])}   {predict_s:9.2f} s {mb(predict_rss)}"
            )
            outcomes[name] = (measured["outcome"], line)
            if args.pillow and name.startswith("png"):
                seconds, rss, _ = child([sys.executable, "-c", PILLOW, str(path)])
                print(f"{'  plain Pillow decode':26s} {'':9s}  {seconds:9.2f} s  {'':10s} peak {mb(rss)}")
        print()
        for name, (outcome, line) in outcomes.items():
            print(f"{name}:\n  open_image: {outcome}\n  predict:    {line}")
    if args.api:
        api_under_attack(files)


if __name__ == "__main__":
    main()
