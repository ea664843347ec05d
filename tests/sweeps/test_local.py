"""``digitnet sweep`` on this machine: the runs, their files, the table and figure; the same weights as
the one training path; nothing lost and nothing redone after a failure, a killed process or Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from digitnet.cli.main import main
from digitnet.data import load_mnist
from digitnet.modelfile import load_model
from digitnet.training.config import TrainConfig
from digitnet.training.runs import train

QUICK = ["--set", "epochs=1", "--set", "train_size=3000", "--no-progress"]
GRID = ["--grid", "lr=1e-3,3e-3", "--grid", "hidden=16,8x8", "--seeds", "2"]


def sweep(capsys, *args) -> tuple[int, str, str]:
    code = main(["sweep", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_of(out: str) -> str:
    return out.split("\n\nbest on validation")[0]


def accuracies(out: str) -> list[list[str]]:
    """The table's rows without the training seconds (the columns before them)."""
    return [line.split("  ")[:-2] for line in table_of(out).splitlines()[2:]]


def test_a_grid_times_seeds_trains_every_run_and_says_which_is_best(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    code, printed, err = sweep(capsys, *QUICK, *GRID, "--data", str(mnist_dir), "--out", str(out))
    assert code == 0, err
    assert "8 runs into" in err and "this machine, 2 processes" in err or "process" in err
    lines = printed.splitlines()
    assert lines[0].split()[:4] == ["lr", "hidden", "seeds", "val"]
    assert sum(line.rstrip().endswith("*") for line in lines[2:6]) == 1  # one best row
    assert "8 runs trained now, 0 were done already" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["runs_total"] == results["runs_done"] == 8 and not results["failed"]
    assert len(results["configurations"]) == 4 and all(
        r["seeds"] == [0, 1] for r in results["configurations"]
    )
    best = results["best"]
    assert best["val_accuracy"]["mean"] == max(r["val_accuracy"]["mean"] for r in results["configurations"])
    assert f"best on validation: lr={best['settings']['lr']}" in printed
    assert (out / "sweep.png").stat().st_size > 10_000
    assert json.loads((out / "sweep.json").read_text())["seeds"] == [0, 1]
    # Every run is a run folder like digitnet train's, which every command takes.
    folders = sorted((out / "runs").iterdir())
    assert len(folders) == 8
    assert main(["evaluate", str(folders[0]), "--data", str(mnist_dir), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    record = json.loads((folders[0] / "metrics.json").read_text())
    assert evaluated["accuracy"] == record["metrics"]["test_accuracy"]


def test_each_run_gives_the_weights_of_the_one_training_path(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert (
        sweep(
            capsys, *QUICK, "--grid", "activation=relu,sigmoid", "--data", str(mnist_dir), "--out", str(out)
        )[0]
        == 0
    )
    for folder in sorted((out / "runs").iterdir()):
        config = TrainConfig.from_dict(json.loads((folder / "metrics.json").read_text())["config"])
        with threadpool_limits(limits=1, user_api="blas"):  # as each sweep run trains
            expected = train(config, load_mnist(mnist_dir, progress=False)).model.named_state()
        swept = load_model(folder / "model.safetensors").model.named_state()
        assert all(np.array_equal(swept[name], expected[name]) for name in expected)


def test_running_the_same_sweep_again_trains_nothing_and_a_torn_run_only_itself(mnist_dir, tmp_path, capsys):
    args = [*QUICK, *GRID, "--data", str(mnist_dir), "--out", str(tmp_path / "sweep")]
    first = sweep(capsys, *args)[1]
    code, again, _ = sweep(capsys, *args)
    assert code == 0 and "0 runs trained now, 8 were done already" in again
    assert table_of(again) == table_of(first)
    # A run killed between its two files leaves a model that its metrics.json does not name.
    folder = sorted((tmp_path / "sweep" / "runs").iterdir())[3]
    other = sorted((tmp_path / "sweep" / "runs").iterdir())[4]
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    (sorted((tmp_path / "sweep" / "runs").iterdir())[5] / "metrics.json").unlink()
    code, third, _ = sweep(capsys, *args)
    assert code == 0 and "2 runs trained now, 6 were done already" in third
    assert accuracies(third) == accuracies(first)  # retrained to the same weights; only the seconds differ


def test_a_sweep_folder_of_an_earlier_release_is_still_done(mnist_dir, tmp_path, capsys):
    """Runs recorded before a setting existed (clip_norm came in 0.2) keep their keys and count as done."""
    args = [*QUICK, "--grid", "lr=1e-3,3e-3", "--data", str(mnist_dir), "--out", str(tmp_path / "sweep")]
    sweep(capsys, *args)
    for path in [tmp_path / "sweep" / "sweep.json", *(tmp_path / "sweep" / "runs").glob("*/metrics.json")]:
        record = json.loads(path.read_text())
        (record["base"] if "base" in record else record["config"]).pop("clip_norm", None)
        path.write_text(json.dumps(record))
    code, again, _ = sweep(capsys, *args)
    assert code == 0 and "0 runs trained now, 2 were done already" in again


def test_a_failing_run_is_retried_then_reported_and_the_rest_complete(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [*QUICK, "--set", "optimizer=sgd", "--grid", "lr=0.1,1e9", "--retries", "1"]
    code, printed, err = sweep(capsys, *args, "--data", str(mnist_dir), "--out", str(out))
    assert code == 1
    assert "1 runs trained now" in printed
    assert "failed after 2 tries: NonFiniteError" in err and "1000000000.0" in err
    results = json.loads((out / "results.json").read_text())
    assert results["runs_done"] == 1 and len(results["failed"]) == 1
    assert results["failed"][0]["settings"] == {"lr": 1e9}


def test_bad_sweeps_are_refused_before_any_folder_is_made(mnist_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    code, _, err = sweep(capsys, "--grid", "lr=1e-3,-1", "--data", str(mnist_dir), "--out", str(out))
    assert code == 1 and "lr must be a positive" in err and not out.exists()
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "nowhere"))
    code, _, err = sweep(capsys, "--grid", "lr=1e-3", "--out", str(out))
    assert code == 1 and "nowhere" in err and not out.exists()
    with pytest.raises(SystemExit):  # argparse refuses a --data that does not exist, naming it
        sweep(capsys, "--grid", "lr=1e-3", "--data", str(tmp_path / "nowhere"), "--out", str(out))
    assert not out.exists()


def _cli(*args, data) -> subprocess.Popen:
    env = {**os.environ, "DIGITNET_DATA": str(data)}
    command = [sys.executable, "-m", "digitnet", "sweep", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _wait_for_runs(out: Path, count: int, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while len(list(out.glob("runs/*/metrics.json"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sweep recorded no run in time"
        time.sleep(0.05)


def _pool_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]


LONGER = ["--set", "epochs=2", "--set", "hidden=64", "--grid", "lr=1e-3,2e-3,3e-3,4e-3", "--seeds", "2"]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the pool's processes in /proc")
def test_a_killed_process_loses_nothing(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    process = _cli(*LONGER, "--no-progress", "--out", str(out), data=mnist_dir)
    _wait_for_runs(out, 1, process)
    os.kill(_pool_processes(process.pid)[0], signal.SIGKILL)
    printed, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert len(list(out.glob("runs/*/metrics.json"))) == 8
    code, again, _ = sweep(capsys, *LONGER, "--no-progress", "--out", str(out), "--data", str(mnist_dir))
    assert code == 0 and "0 runs trained now, 8 were done already" in again
    assert table_of(again) == table_of(printed)


def test_ctrl_c_keeps_what_finished_and_the_next_run_does_the_rest(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    process = _cli(*LONGER, "--no-progress", "--out", str(out), data=mnist_dir)
    _wait_for_runs(out, 1, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted with" in err and "run the same sweep again" in err
    done = len(list(out.glob("runs/*/metrics.json")))
    assert 1 <= done < 8
    code, printed, _ = sweep(capsys, *LONGER, "--no-progress", "--out", str(out), "--data", str(mnist_dir))
    assert code == 0 and f"{8 - done} runs trained now, {done} were done already" in printed


def test_a_cluster_that_closes_while_a_result_travels_is_one_message(tmp_path):
    """distributed raises CommClosedError (an OSError) from a finished future whose scheduler was killed
    while its result travelled: the sweep says the cluster was lost and how much is kept, no traceback."""
    from digitnet.sweeps.runner import run_sweep
    from digitnet.sweeps.spec import SweepSpec
    from digitnet.training import TrainConfig

    class Gone:
        def done(self):
            return True

        def exception(self):
            raise OSError("in <TCP (closed) ConnectionPool.gather>: Stream is closed")

    class Cluster:
        capacity, routes, gone = 2, True, "the Dask scheduler at tcp://10.0.0.1:8786 was lost"

        def submit(self, *args, avoid=frozenset()):
            return Gone()

        def wait(self, futures, seconds):
            return set(futures)

        @staticmethod
        def lost(error):
            return False

        def close(self):
            pass

    spec = SweepSpec(base=TrainConfig(hidden=(8,), epochs=1), grid={"lr": (1e-3, 3e-3)})
    with pytest.raises(
        ConnectionError, match=r"tcp://10.0.0.1:8786 was lost; 0 of 2 runs are done and recorded"
    ):
        run_sweep(spec, tmp_path / "sweep", Cluster())
