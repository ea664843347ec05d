"""A sweep folder belongs to one sweep: another sweep into it is refused (nothing overwritten), two at once
are refused, and a run counts as done only when its record is whole and its model is still there."""

import fcntl
import json

from digitnet.cli.main import main

QUICK = ["--set", "epochs=1", "--set", "train_size=1000", "--set", "hidden=8", "--no-progress"]


def sweep(capsys, *args):
    code = main(["sweep", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_another_sweep_into_the_same_folder_is_refused_showing_the_difference(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert sweep(capsys, *QUICK, "--grid", "lr=1e-3,3e-3", "--data", mnist_dir, "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = sweep(capsys, *QUICK, "--grid", "lr=1e-2", "--data", mnist_dir, "--out", out)
    assert code == 1 and f"{out} holds another sweep (grid:" in err and "[0.01]" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # nothing overwritten
    code, printed, _ = sweep(capsys, *QUICK, "--grid", "lr=1e-3,3e-3", "--data", mnist_dir, "--out", out)
    assert code == 0 and "0 runs trained now, 2 were done already" in printed  # the same sweep passes


def test_a_second_sweep_at_once_into_the_same_folder_is_refused(mnist_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    with open(out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a sweep running in another process holds it
        code, _, err = sweep(capsys, *QUICK, "--data", mnist_dir, "--out", out)
    assert code == 1 and "another sweep is running in" in err


def test_a_run_whose_model_was_removed_or_whose_record_is_corrupt_is_trained_again(
    mnist_dir, tmp_path, capsys
):
    out = tmp_path / "sweep"
    args = [*QUICK, "--grid", "lr=1e-3,3e-3,1e-2", "--data", mnist_dir, "--out", out]
    assert sweep(capsys, *args)[0] == 0
    first, second, third = sorted((out / "runs").iterdir())
    (first / "model.safetensors").unlink()
    record = json.loads((second / "metrics.json").read_text())
    (second / "metrics.json").write_text(json.dumps({**record, "metrics": {"test_accuracy": "high"}}))
    (third / "metrics.json").write_text("[1, 2")  # torn
    code, printed, err = sweep(capsys, *args)
    assert code == 0 and "3 runs trained now, 0 were done already" in printed and "Traceback" not in err
    assert (first / "model.safetensors").is_file()


def test_a_run_that_cannot_be_saved_goes_to_a_rescue_folder_and_counts_once_moved_back(
    mnist_dir, tmp_path, capsys, monkeypatch, user_cache
):
    import errno
    import os
    import shutil
    from pathlib import Path

    from digitnet.modelfile import load_model
    from digitnet.sweeps import runner

    out = tmp_path / "sweep"
    args = [*QUICK, "--grid", "lr=1e-3,3e-3", "--data", mnist_dir, "--out", out]
    real_write = runner.write_run
    full = []

    def disk_full(folder, *a, **k):
        if not full:  # the first run's save finds the disk full; the second's finds room again
            full.append(folder)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(folder) / "model.safetensors"))
        return real_write(folder, *a, **k)

    monkeypatch.setattr(runner, "write_run", disk_full)
    code, printed, err = sweep(capsys, *args)
    assert code == 1 and "Traceback" not in err and "2 runs trained now" in printed
    key = Path(full[0]).name
    assert f"could not save run {key} in {out / 'runs' / key} (No space left on device)" in err
    rescue = Path(err.split("the files are in ")[1].split(" instead")[0])
    assert rescue.parent == user_cache.parent / "rescued" and rescue.name.startswith("digitnet-sweep-")
    assert load_model(rescue / "model.safetensors").metrics["test_accuracy"] > 0.1
    assert "1 trained run(s) are in rescue folders" in err
    results = json.loads((out / "results.json").read_text())
    assert len([r for r in results["runs"] if "test_accuracy" in r]) == 2  # both runs are in the table
    monkeypatch.setattr(runner, "write_run", real_write)
    assert f"move the files of each into {out / 'runs'}/KEY" in err
    for file in rescue.iterdir():  # as the message says: then it counts, and nothing is trained
        shutil.move(file, out / "runs" / key / file.name)
    code, printed, _ = sweep(capsys, *args)
    assert code == 0 and "0 runs trained now, 2 were done already" in printed
