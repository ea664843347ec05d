"""``digitnet sweep --scheduler`` on a real Dask cluster: a scheduler and two workers started as separate
processes on loopback with the ``dask scheduler`` and ``dask worker`` commands, as a lab would start them.

Needs the optional extra (``pip install -e '.[dask]'``): skips cleanly without it.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from digitnet.cli.main import main  # noqa: E402
from digitnet.modelfile import load_model  # noqa: E402
from digitnet.sweeps import DaskCluster  # noqa: E402

DASK = Path(sys.executable).with_name("dask")
pytestmark = pytest.mark.skipif(not DASK.exists(), reason="the dask command is not beside this Python")

QUICK = ["--set", "epochs=1", "--set", "train_size=3000", "--no-progress"]
EIGHT = ["--grid", "lr=1e-3,3e-3", "--grid", "hidden=16,8x8", "--seeds", "2"]
LONGER = ["--set", "epochs=2", "--set", "hidden=64", "--grid", "lr=1e-3,2e-3,3e-3,4e-3", "--seeds", "2"]


@contextlib.contextmanager
def cluster(folder: Path, data: Path, workers: int = 2, broken: int = 0):
    """A scheduler and ``workers`` one-thread workers (no nanny: a killed worker stays dead), each a
    process of its own, the last ``broken`` of them without MNIST (their DIGITNET_DATA an empty folder);
    yields (address, worker processes, scheduler process) and stops them all afterwards."""
    env = {**os.environ, "DIGITNET_DATA": str(data)}
    empty = folder / "no-mnist"
    empty.mkdir(exist_ok=True)
    file = folder / "scheduler.json"
    started = []

    def start(*args, without_data=False):
        log = open(folder / f"{args[0]}-{len(started)}.log", "w")
        process = subprocess.Popen(
            [str(DASK), *args],
            env={**env, "DIGITNET_DATA": str(empty)} if without_data else env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        started.append(process)
        return process

    try:
        start(
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)
        )
        deadline = time.monotonic() + 60
        while not file.exists():
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        worker_args = ("--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1")
        processes = [
            start("worker", address, *worker_args, without_data=i >= workers - broken) for i in range(workers)
        ]
        if workers:
            with distributed.Client(address, timeout=30) as client:
                client.wait_for_workers(workers, timeout=60)
        yield address, processes, started[0]
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def sweep(capsys, *args):
    code = main(["sweep", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _sweep_until_a_run_is_recorded(out: Path, address: str) -> subprocess.Popen:
    """``digitnet sweep`` of the LONGER runs on the cluster, in a process of its own; returned once its
    first run is recorded, still running."""
    command = [sys.executable, "-m", "digitnet", "sweep", *LONGER, "--no-progress", "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--scheduler", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*/metrics.json")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process


def states(folder: Path) -> dict:
    return {
        run.name: load_model(run / "model.safetensors").model.named_state()
        for run in sorted((folder / "runs").iterdir())
    }


def test_a_sweep_on_the_cluster_gives_exactly_the_local_weights(mnist_dir, tmp_path, capsys):
    with cluster(tmp_path, mnist_dir) as (address, workers, _):
        code, printed, err = sweep(
            capsys, *QUICK, *EIGHT, "--scheduler", address, "--out", str(tmp_path / "dask")
        )
    assert code == 0, err
    assert "on the Dask cluster at" in err and "2 workers with 2 threads" in err
    assert "8 runs trained now" in printed
    code, local, _ = sweep(capsys, *QUICK, *EIGHT, "--data", str(mnist_dir), "--out", str(tmp_path / "local"))
    assert code == 0
    on_cluster, here = states(tmp_path / "dask"), states(tmp_path / "local")
    assert len(on_cluster) == 8 and on_cluster.keys() == here.keys()
    for key, arrays in on_cluster.items():
        assert all(np.array_equal(arrays[name], here[key][name]) for name in arrays), key
    # Both workers trained, and neither is this process.
    ran_on = {
        json.loads(p.read_text())["metrics"]["worker"]
        for p in (tmp_path / "dask").glob("runs/*/metrics.json")
    }
    assert {w.split(":")[1] for w in ran_on} == {str(w.pid) for w in workers}


def test_a_killed_worker_loses_nothing_and_the_rerun_trains_nothing(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    with cluster(tmp_path, mnist_dir) as (address, workers, _):
        process = _sweep_until_a_run_is_recorded(out, address)
        os.kill(workers[0].pid, signal.SIGKILL)  # in the middle of the sweep: its run goes to the other
        printed, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert len(list(out.glob("runs/*/metrics.json"))) == 8
        code, again, _ = sweep(capsys, *LONGER, "--no-progress", "--out", str(out), "--scheduler", address)
    assert code == 0 and "0 runs trained now, 8 were done already" in again
    assert again.split("\n\n")[0] == printed.split("\n\n")[0]  # the very same table


def test_canon_runs_on_the_cluster(mnist_dir, tmp_path, capsys):
    with cluster(tmp_path, mnist_dir) as (address, workers, _):
        out = tmp_path / "canon"
        code = main(
            ["experiment", "canon", "--quick", "--no-progress", "--scheduler", address, "--out", str(out)]
        )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())["results"]
    assert len(results["rows"]) == 7
    records = list(out.glob("sweep/runs/*/metrics.json"))
    assert len(records) == 7
    assert {json.loads(p.read_text())["metrics"]["worker"].split(":")[1] for p in records} <= {
        str(w.pid) for w in workers
    }


def test_an_unreachable_scheduler_is_refused_with_what_to_do():
    with pytest.raises(OSError, match="cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'.*dask scheduler"):
        DaskCluster("tcp://127.0.0.1:9", timeout=1)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "tcp://",
        "tcp://host",
        "tcp://host:99999",
        "http://host:8786",
        "tcp://host:port",
        "::::",
        "tcp://:8786",
        "tcp://my host:8786",
        "tcp://user@host:8786",
        "tcp://-host:8786",
        "tcp://host..lan:8786",
    ],
)
def test_a_malformed_scheduler_address_is_refused_before_any_connection(address):
    from digitnet.sweeps.backends import scheduler_address

    started = time.monotonic()
    with pytest.raises(ValueError, match="--scheduler"):
        DaskCluster(address)
    assert time.monotonic() - started < 1  # nothing was tried
    assert scheduler_address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert scheduler_address("tls://node_1.cluster:8786") == "tls://node_1.cluster:8786"
    assert scheduler_address("[::1]:8786") == "tcp://[::1]:8786"


def test_a_peer_that_accepts_and_never_answers_is_given_up_on_in_bounded_time():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, says nothing
        started = time.monotonic()
        with pytest.raises(OSError, match="no Dask scheduler answered at tcp://127.0.0.1"):
            DaskCluster(f"tcp://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
        assert time.monotonic() - started < 15


def test_a_scheduler_without_workers_is_reported_not_waited_on_forever(tmp_path, mnist_dir):
    with cluster(tmp_path, mnist_dir, workers=0) as (address, _, _):
        with pytest.raises(OSError, match="has no workers after 2 s; start some with `dask worker"):
            DaskCluster(address, workers_timeout=2)


def test_a_worker_without_mnist_beside_a_healthy_one_does_not_take_the_sweep_down(
    mnist_dir, tmp_path, capsys
):
    """It failed every run in milliseconds and took every retry: 7 of 8 runs failed."""
    with cluster(tmp_path, mnist_dir, workers=2, broken=1) as (address, workers, _):
        code, printed, err = sweep(
            capsys, *QUICK, *EIGHT, "--out", str(tmp_path / "s"), "--scheduler", address
        )
    assert code == 0 and "8 runs trained now" in printed, err
    broken = "tcp://127.0.0.1:"  # its address: named, with the real error
    assert "digitnet sweep: worker " + broken in err and "DataError" in err and "given no more" in err
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("runs/*/metrics.json")]
    assert {r["metrics"]["worker"].split(":")[1] for r in records} == {str(workers[0].pid)}


def test_when_every_worker_fails_each_failure_names_its_worker_and_the_real_error(
    mnist_dir, tmp_path, capsys
):
    with cluster(tmp_path, mnist_dir, workers=1, broken=1) as (address, _, _):
        argv = [*QUICK, "--grid", "lr=1e-3,3e-3", "--out", str(tmp_path / "s"), "--scheduler", address]
        code, printed, err = sweep(capsys, *argv, "--retries", "1")
    assert code == 1 and "no run finished" in printed and "no validation split" not in printed
    assert err.count("failed after 2 tries: DataError:") == 2 and "(on tcp://127.0.0.1:" in err


def test_a_killed_scheduler_is_one_message_and_what_finished_is_kept(mnist_dir, tmp_path):
    out = tmp_path / "sweep"
    with cluster(tmp_path, mnist_dir) as (address, _, scheduler):
        process = _sweep_until_a_run_is_recorded(out, address)
        os.killpg(scheduler.pid, signal.SIGKILL)
        _, err = process.communicate(timeout=120)
    done = len(list(out.glob("runs/*/metrics.json")))
    assert process.returncode == 1 and "Traceback" not in err, err
    assert f"the Dask scheduler at {address} was lost; {done} of 8 runs are done and recorded in {out}" in err
