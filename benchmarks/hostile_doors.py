"""What the newer doors give a hostile or careless user: ONNX import, sweeps, schedulers, the server, the CLI.

A review fed 532 such inputs to ``digitnet`` and found 79 that broke it (a traceback, a 5xx, a hang over
10 s, memory over 500 MB, or data lost). This script makes one or more inputs of each kind the review
broke on and runs the real command on each in a child process, printing for every case its exit code,
wall time, peak resident memory (the child's own, from ``wait4``) and the last line it wrote. A child
still running after 60 s is killed and shown as ``HANG``.

``--serve`` also starts ``digitnet serve`` and tries its connections: 1,100 idle connections, sixteen
1 MB bodies of ``{"pixels": [["x"], ...]}`` at once, a thousand clients that each send 999,999 bytes of a
1 MB upload and stop (the server's peak memory, how long until it has closed them all, and how fast
``/api/health`` answers meanwhile), and models that used to give 500s.

    python benchmarks/hostile_doors.py [--serve]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

LIMIT_S = 60.0


def run(argv: list[str], cwd: Path, stdin=None) -> dict:
    """Run ``python -m digitnet *argv``; its exit code, wall seconds, peak RSS (MB) and last line."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "digitnet", *argv],
        cwd=cwd,
        stdin=stdin or subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    timer = threading.Timer(LIMIT_S, lambda: child.send_signal(signal.SIGKILL))
    timer.start()
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    code = "HANG" if child.returncode == -signal.SIGKILL else str(child.returncode)
    traceback = "Traceback" in output
    return {"code": code, "s": seconds, "mb": usage.ru_maxrss / 1024, "said": last, "traceback": traceback}


def show(row: str, case: str, result: dict) -> None:
    said = result["said"].replace("\n", " ")
    said = said if len(said) <= 150 else said[:147] + "..."
    flag = "  TRACEBACK" if result["traceback"] else ""
    print(
        f"{row:<10} {case:<44} {result['code']:>4} {result['s']:6.2f} s {result['mb']:6.0f} MB  {said}{flag}"
    )


# --- ONNX files -------------------------------------------------------------------------------------


def onnx_cases(folder: Path) -> dict[str, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def model(nodes, weights=(), shape=("N", 784), props=None):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
        y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N", 10])
        inits = [numpy_helper.from_array(w, n) for n, w in weights]
        proto = helper.make_model(
            helper.make_graph(nodes, "g", [x], [y], initializer=inits),
            opset_imports=[helper.make_opsetid("", 17)],
        )
        if props:
            helper.set_model_props(proto, props)
        return proto

    def save(name, proto, **kw):
        path = folder / name
        onnx.save(proto, str(path), **kw)
        return path

    gemm = helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="dense")
    w = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    b = np.zeros(10, np.float32)
    cases = {}
    # a 400,000-unit layer declared in a small file: the weight's dims say so, its data is short
    big = numpy_helper.from_array(np.zeros((784, 1), np.float32), "W")
    big.dims[:] = [784, 400_000]
    proto = model([gemm], [("b", b)])
    proto.graph.initializer.append(big)
    cases["declares a 400,000-unit layer"] = save("wide.onnx", proto)
    cases["declares a 50-million-wide input"] = save(
        "input.onnx", model([helper.make_node("Relu", ["x"], ["y"])], shape=("N", 50_000_000))
    )
    with open(folder / "huge.onnx", "wb") as f:
        f.truncate(40_000_000)  # over the 32 MB limit
    cases["a 40 MB file"] = folder / "huge.onnx"
    (folder / "ten.onnx").write_bytes(os.urandom(10_000_000))
    cases["10 MB of noise"] = folder / "ten.onnx"
    odd = model([gemm], [("W", w), ("b", b)])
    odd.graph.initializer[0].data_type = 99
    cases["an unknown tensor type"] = save("type.onnx", odd)
    cases["a 1-D weight"] = save("oned.onnx", model([gemm], [("W", w.ravel()), ("b", b)]))
    cases["deep metadata"] = save(
        "meta.onnx", model([gemm], [("W", w), ("b", b)], props={"digitnet.training": "[" * 100_000})
    )
    nan = w.copy()
    nan[0, 0] = np.nan
    cases["NaN weights"] = save("nan.onnx", model([gemm], [("W", nan), ("b", b)]))
    relus = [helper.make_node("Relu", [f"a{i}" if i else "z"], [f"a{i + 1}"]) for i in range(1100)]
    cases["1,100 layers"] = save("deep.onnx", model([gemm, *relus], [("W", w), ("b", b)]))
    bn = helper.make_node("BatchNormalization", ["z", "g", "b2", "m", "v"], ["y"])
    ones, zeros = np.ones(10, np.float32), np.zeros(10, np.float32)
    cases["a negative variance"] = save(
        "var.onnx",
        model([gemm, bn], [("W", w), ("b", b), ("g", ones), ("b2", zeros), ("m", zeros), ("v", -ones)]),
    )
    exported = model(
        [gemm], [("W", w), ("b", b)], props={"digitnet.metrics": json.dumps({"test_accuracy": 0.99})}
    )
    cases["recorded accuracy, other weights"] = save("claims.onnx", exported)
    for trick in ("link", "fifo", "device", "outside"):
        sub = folder / trick
        sub.mkdir()
        proto = model([gemm], [("W", w), ("b", b)])
        from onnx.external_data_helper import convert_model_to_external_data

        convert_model_to_external_data(
            proto, all_tensors_to_one_file=True, location="w.data", size_threshold=0
        )
        path = sub / "m.onnx"
        onnx.save(proto, str(path))
        (sub / "w.data").unlink()
        if trick == "link":
            secret = folder / "secret.data"
            secret.write_bytes(np.zeros(7850, np.float32).tobytes())
            os.symlink(secret, sub / "w.data")
        elif trick == "fifo":
            os.mkfifo(sub / "w.data")
        elif trick == "device":
            os.symlink("/dev/zero", sub / "w.data")
        else:
            for t in proto.graph.initializer:
                for entry in t.external_data:
                    if entry.key == "location":
                        entry.value = "../secret.data"
            onnx.save(proto, str(path), save_as_external_data=False)
        cases[f"external data: {trick}"] = path
    return cases


# --- sweeps -----------------------------------------------------------------------------------------


SPEC_FILES = {
    "bad.json": "{",
    "bad.toml": "grid = [",
    "list.json": "[1, 2]",
    "nested.json": "[" * 100_000,
    "epochs.json": '{"base": {"epochs": 1e300}}',
    "bigint.json": '{"base": {"epochs": ' + "9" * 400 + "}}",
    "seed.json": '{"seeds": [1.5]}',
    "grid.toml": "[grid]\nlr = [1e-3, 2e-3]\nhidden = 3",
}


def sweep_cases(folder: Path, data: str) -> list[tuple[str, list[str]]]:
    for name, text in SPEC_FILES.items():
        (folder / name).write_text(text)
    cases = [(f"file {name}", ["sweep", "--file", str(folder / name), "--data", data]) for name in SPEC_FILES]
    thousand = ",".join(str(i) for i in range(1, 1001))
    lrs = ",".join(f"{i}e-5" for i in range(1, 1001))
    quick = ["--set", "epochs=1", "--set", "train_size=500", "--set", "hidden=8", "--no-progress"]
    grid9 = ["--grid", f"hidden={thousand}", "--grid", f"batch_size={thousand}", "--grid", f"lr={lrs}"]
    cases += [
        ("a 10^9-run grid", ["sweep", *grid9, "--data", data]),
        ("a 10^6-run grid", ["sweep", *grid9[:4], "--data", data]),
        ("--seeds 1000000000", ["sweep", "--seeds", "1000000000", "--data", data]),
        (
            "--samples 1000000000",
            ["sweep", "--sample", "lr=log:1e-4:1e-2", "--samples", "1000000000", "--data", data],
        ),
        ("an empty data folder", ["sweep", *quick, "--data", str(folder / "empty")]),
        (
            "--processes 16",
            ["sweep", *quick, "--processes", "16", "--data", data, "--out", str(folder / "p16")],
        ),
    ]
    (folder / "empty").mkdir()
    return cases


def folder_cases(folder: Path, data: str) -> None:
    quick = ["--set", "epochs=1", "--set", "train_size=1000", "--set", "hidden=8", "--no-progress"]
    out = folder / "sweep"
    first = ["sweep", *quick, "--grid", "lr=1e-3,3e-3,1e-2", "--data", data, "--out", str(out)]
    show("folders", "a first sweep of three runs", run(first, folder))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    other = ["sweep", *quick, "--grid", "lr=5e-3", "--data", data, "--out", str(out)]
    result = run(other, folder)
    same = before == {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    result["said"] += f"  [first sweep's files {'unchanged' if same else 'CHANGED'}]"
    show("folders", "another sweep into the same --out", result)
    runs = sorted((out / "runs").iterdir())
    (runs[0] / "model.safetensors").unlink()
    (runs[1] / "metrics.json").write_text("[1, 2")
    show("folders", "a model deleted, a metrics.json torn", run(first, folder))


# --- the CLI and model files ------------------------------------------------------------------------


def cli_cases(folder: Path, data: str) -> list[tuple[str, str, list[str]]]:
    from digitnet.modelfile import save_model
    from digitnet.nn import Dense, ReLU, Sequential

    few = Sequential([Dense(16), ReLU(), Dense(3)], rng=0)
    save_model(folder / "three.safetensors", few)
    os.mkfifo(folder / "pipe")
    return [
        (
            "models",
            "report on a 3-class model",
            ["report", str(folder / "three.safetensors"), "--data", data, "--out", str(folder / "r")],
        ),
        (
            "models",
            "evaluate a 3-class model",
            ["evaluate", str(folder / "three.safetensors"), "--data", data],
        ),
        ("cli", "--kernel-size 99 --conv 2", ["train", "--conv", "2", "--kernel-size", "99", "--data", data]),
        ("cli", "--epochs 1000000000", ["train", "--epochs", "1000000000", "--data", data]),
        ("cli", "--hidden 50000000", ["train", "--hidden", "50000000", "--data", data]),
        ("cli", "predict a FIFO", ["predict", "cnn", str(folder / "pipe")]),
        ("cli", "predict /dev/zero", ["predict", "cnn", "/dev/zero"]),
        ("cli", "sweep --file a FIFO", ["sweep", "--file", str(folder / "pipe"), "--data", data]),
        ("cli", "train --config /dev/zero", ["train", "--config", "/dev/zero", "--data", data]),
        ("cli", "serve --host ''", ["serve", "--host", ""]),
        ("cli", "predict a name with escapes", ["predict", "cnn", str(folder / "\x1b[31mred\x1b[0m.png")]),
    ]


def scheduler_cases(folder: Path, data: str) -> list[tuple[str, list[str]]]:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections (the kernel does) and never answers
    threading.Thread(target=lambda: [silent.accept() for _ in range(16)], daemon=True).start()
    port = silent.getsockname()[1]
    base = ["sweep", "--set", "epochs=1", "--data", data, "--out", str(folder / "dask")]
    return [
        ("a server that is not Dask", [*base, "--scheduler", f"tcp://127.0.0.1:{port}"]),
        ("no port", [*base, "--scheduler", "tcp://127.0.0.1"]),
        ("a port of 99999", [*base, "--scheduler", "tcp://127.0.0.1:99999"]),
        ("http://", [*base, "--scheduler", "http://127.0.0.1:8786"]),
        ("spaces", [*base, "--scheduler", "tcp://my host:8786"]),
    ]


# --- the server -------------------------------------------------------------------------------------


def serve_cases(folder: Path) -> None:
    from digitnet.modelfile import save_model
    from digitnet.nn import Dense, Sequential, Sigmoid

    two = Sequential([Dense(32), Dense(10)], rng=0)
    save_model(folder / "two_dense.safetensors", two)
    hot = Sequential([Dense(32), Sigmoid(), Dense(10)], rng=0)
    hot.layers[0].params["W"][...] = 3e38
    save_model(folder / "overflow.safetensors", hot)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet",
            "serve",
            "--port",
            str(port),
            str(folder / "two_dense.safetensors"),
            str(folder / "overflow.safetensors"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                health(url)
                break
            except OSError:
                time.sleep(0.1)
        served("at start", f"{peak_mb(server.pid):.0f} MB peak")
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1100)]
        served("1,100 idle connections", f"health answered in {health(url) * 1e3:.0f} ms")
        for s in idle:
            s.close()
        body = b'{"pixels": [' + b'["x"], ' * 140_000 + b'["x"]]}'
        answers = []

        def post():
            answers.append(status(url + "/api/predict", body[:999_000] + b'["x"]]}'))

        threads = [threading.Thread(target=post) for _ in range(16)]
        for t in threads:
            t.start()
        slowest = max(health(url) for _ in range(20))
        for t in threads:
            t.join()
        served('16 x 1 MB of ["x"] at once', f"{sorted(set(answers))}, slowest health {slowest * 1e3:.0f} ms")
        for name in ("two_dense", "overflow"):
            pixels = json.dumps({"model": name, "pixels": [[0.0] * 28] * 10 + [[1.0] * 28] * 18}).encode()
            served(f"model {name}", f"POST /api/predict: {status(url + '/api/predict', pixels)}")
        started = time.monotonic()
        latencies: list[float] = []
        stop = threading.Event()

        def ask():
            while not stop.is_set():
                latencies.append(health(url))
                time.sleep(0.05)

        asker = threading.Thread(target=ask)
        asker.start()
        answers = asyncio.run(unfinished_uploads(port, 1000))
        stop.set()
        asker.join()
        kinds = {a[:12].decode("latin-1") or "closed": 0 for a in answers}
        for a in answers:
            kinds[a[:12].decode("latin-1") or "closed"] += 1
        closed = time.monotonic() - started
        served(
            "1,000 unfinished 1 MB uploads",
            f"all closed after {closed:.1f} s ({kinds}), health slowest {max(latencies) * 1e3:.0f} ms, "
            f"server peak {peak_mb(server.pid):.0f} MB",
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def served(case: str, text: str) -> None:
    print(f"{'serve':<10} {case:<44} {text}")


def health(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url + "/api/health", timeout=10) as reply:
        reply.read()
    return time.perf_counter() - start


def status(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def peak_mb(pid: int) -> float:
    status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status_lines if line.startswith("VmHWM"))) / 1024


async def unfinished_uploads(port: int, count: int) -> list[bytes]:
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )

    async def upload() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head + b" " * 999_999)
            await writer.drain()
            return await asyncio.wait_for(reader.read(), 120)
        except ConnectionError:
            return b""
        finally:
            writer.close()

    return await asyncio.gather(*(upload() for _ in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--serve", action="store_true", help="also try the server's connections (about a minute)"
    )
    args = parser.parse_args()
    data = os.environ.get("DIGITNET_DATA")
    if not data:
        sys.exit("set DIGITNET_DATA to the folder holding the four MNIST .gz files")
    print(f"{'row':<10} {'case':<44} {'exit':>4} {'time':>8} {'peak':>9}  last line")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case, path in onnx_cases(folder).items():
            show("import", case, run(["import", str(path), "--out", str(folder / "out.safetensors")], folder))
            (folder / "out.safetensors").unlink(missing_ok=True)
        for case, argv in sweep_cases(folder, data):
            show("sweep", case, run(argv, folder))
        for case, argv in scheduler_cases(folder, data):
            show("scheduler", case, run(argv, folder))
        folder_cases(folder, data)
        for row, case, argv in cli_cases(folder, data):
            show(row, case, run(argv, folder))
        if args.serve:
            serve_cases(folder)


if __name__ == "__main__":
    main()
