"""Output folders: refused before any work when they cannot take the results, and a rescue folder when the
final save fails anyway, for `digitnet train`, `report` and `experiment`.

Root ignores file modes, so unwritable folders are made with a path under a regular file, a folder in /sys,
or by failing a write in-process; the mode-based test runs only for other users.
"""

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import TINY, run

import digitnet.cli.train as train_command
import digitnet.experiments
import digitnet.modelfile.run_folder as run_files
import digitnet.plots
import digitnet.report.build
from digitnet.modelfile import load_model, read_header
from digitnet.training.progress import ProgressBars


@pytest.fixture
def no_work(monkeypatch):
    """Make training, reports and experiments fail loudly if they start: a bad folder must stop them first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the work started although the output folder is unusable")

    monkeypatch.setattr(train_command, "train", refuse)
    monkeypatch.setattr(train_command, "load_mnist", refuse)
    monkeypatch.setattr(digitnet.report.build, "build_report", refuse)
    monkeypatch.setattr(digitnet.experiments, "run_experiment", refuse)


def bad_outputs(tmp_path):
    """(--out value, what the message must say) for folders that cannot take the results."""
    (tmp_path / "file").write_text("not a folder")
    cases = [
        (tmp_path / "file", "names a file, not a folder"),
        (tmp_path / "file" / "run", f"{tmp_path / 'file'} is a file, not a folder"),
    ]
    if Path("/sys/kernel").is_dir():  # sysfs takes no new files, even from root
        cases.append((Path("/sys/kernel"), "is not writable"))
        cases.append((Path("/sys/kernel/digitnet-run"), "cannot be created"))
    return cases


@pytest.mark.parametrize("command", ["train", "report", "experiment"])
def test_a_bad_output_folder_is_refused_before_any_work(tmp_path, capsys, no_work, mnist_dir, command):
    argv = {
        "train": ["train", *TINY],
        "report": ["report", "default"],
        "experiment": ["experiment", "vanishing", "--quick", "--no-progress"],
    }[command]
    for out, message in bad_outputs(tmp_path):
        code, stdout, err = run(capsys, *argv, "--data", mnist_dir, "--out", out)
        assert code == 1, err
        assert f"digitnet {command}: error: --out {out}" in err and message in err and "Traceback" not in err
        assert "--out" in err.split(message, 1)[1]  # and says what to do


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into any folder")
def test_a_read_only_folder_is_refused(tmp_path, capsys, no_work):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    try:
        code, _, err = run(capsys, "train", *TINY, "--out", folder)
    finally:
        folder.chmod(0o700)
    assert code == 1 and "is not writable" in err


def test_the_default_report_folder_is_checked_too(tmp_path, capsys, no_work):
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    shutil.copyfile(load_model_path("mlp"), run_folder / "model.safetensors")
    (run_folder / "report").write_text("a file where the report folder goes")
    code, _, err = run(capsys, "report", run_folder)
    assert (
        code == 1
        and f"the report folder {run_folder / 'report'}" in err
        and "choose another with --out" in err
    )


def load_model_path(name):
    from digitnet.models import bundled_models

    return bundled_models()[name]


def test_the_overwrite_refusal_stays(tmp_path, capsys, no_work):
    (tmp_path / "model.safetensors").write_bytes(b"an earlier run")
    code, _, err = run(capsys, "train", *TINY, "--out", tmp_path)
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert (tmp_path / "model.safetensors").read_bytes() == b"an earlier run"


# --- the final save fails anyway: the result goes to a rescue folder -----------------------------


def test_train_saves_into_a_rescue_folder_when_the_disk_is_full(
    tmp_path, capsys, monkeypatch, mnist_dir, user_cache
):
    out = tmp_path / "run"
    real_save = run_files.save_model

    def disk_full(path, *args, **kwargs):
        if Path(path).parent == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(run_files, "save_model", disk_full)
    code, stdout, err = run(capsys, "train", *TINY, "--data", mnist_dir, "--out", out, "--json")
    assert code == 1 and "Traceback" not in err
    shown = json.loads(stdout)  # the results are still printed, with where they went
    rescue = Path(shown["model"]).parent
    assert rescue.parent == user_cache.parent / "rescued" and rescue.name.startswith("digitnet-train-")
    assert f"could not save the model and its metrics in {out} (No space left on device)" in err
    assert f"the files are in {rescue} instead" in err
    loaded = load_model(rescue / "model.safetensors")
    record = json.loads((rescue / "metrics.json").read_text())
    assert loaded.metrics["test_accuracy"] == record["metrics"]["test_accuracy"] == shown["test_accuracy"]
    assert record["model_sha256"] == read_header(rescue / "model.safetensors")["sha256"]
    assert not (out / "metrics.json").exists()


def test_the_temporary_folder_is_the_last_resort(tmp_path, capsys, monkeypatch, mnist_dir, user_cache):
    user_cache.parent.mkdir(parents=True)
    (user_cache.parent / "rescued").write_text("in the way")  # no rescue folder in the cache
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # let tempfile read TMPDIR again
    out = tmp_path / "run"
    real_save = run_files.save_model

    def fail_in_out(path, *args, **kwargs):
        if Path(path).parent == out:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(run_files, "save_model", fail_in_out)
    code, stdout, err = run(capsys, "train", *TINY, "--data", mnist_dir, "--out", out, "--json")
    rescue = Path(json.loads(stdout)["model"]).parent
    assert code == 1 and rescue.parent == tmp_path / "tmp" and str(rescue) in err
    load_model(rescue / "model.safetensors")


def replace_with_a_file(folder: Path) -> None:
    """The output folder disappears mid-run and a file takes its name: every later write into it fails."""
    shutil.rmtree(folder)
    folder.write_text("not a folder any more")


def test_an_experiment_saves_into_a_rescue_folder(tmp_path, capsys, monkeypatch, mnist_dir, user_cache):
    out = tmp_path / "exp"
    real_save_figure = digitnet.plots.save_figure
    calls = []

    def disk_full_after_one_figure(fig, path):
        calls.append(path)
        if len(calls) > 1 and Path(path).parent == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_save_figure(fig, path)

    monkeypatch.setattr(digitnet.plots, "save_figure", disk_full_after_one_figure)
    code, stdout, err = run(
        capsys,
        "experiment",
        "vanishing",
        "--quick",
        "--no-progress",
        "--data",
        mnist_dir,
        "--out",
        out,
        "--json",
    )
    assert code == 1 and "Traceback" not in err
    record = json.loads(stdout)
    rescue = Path(record["out"])
    assert rescue.parent == user_cache.parent / "rescued" and f"could not write in {out}" in err
    assert str(rescue) in err and len(calls) == 3  # figure 1 in out; figure 2 failed there, then rescued
    names = {p.name for p in rescue.iterdir()}
    assert {"results.json", "summary.txt"} <= names
    assert {Path(p).name for p in record["figures"]} <= names  # the figure saved before was carried over
    assert json.loads((rescue / "results.json").read_text())["experiment"] == "vanishing"


def test_a_report_is_rebuilt_in_a_rescue_folder(tmp_path, capsys, monkeypatch, mnist_dir, user_cache):
    out = tmp_path / "report"
    real_save_figure = digitnet.report.build.save_figure

    def vanish_once(fig, path):
        if Path(path).parent == out:
            replace_with_a_file(out)
        return real_save_figure(fig, path)

    monkeypatch.setattr(digitnet.report.build, "save_figure", vanish_once)
    code, stdout, err = run(capsys, "report", "default", "--data", mnist_dir, "--out", out, "--json")
    assert code == 1 and "Traceback" not in err
    rescue = Path(json.loads(stdout)["out"])
    assert rescue.parent == user_cache.parent / "rescued" and f"could not save the report in {out}" in err
    assert (rescue / "index.html").is_file() and json.loads((rescue / "report.json").read_text())["test"]


# --- a model and a metrics.json from different runs are never paired --------------------------------


def test_a_kill_between_the_two_saves_never_pairs_the_new_model_with_old_metrics(
    tmp_path, capsys, monkeypatch, mnist_dir
):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", *TINY, "--data", mnist_dir, "--out", out)
    assert code == 0, err
    old_record = (out / "metrics.json").read_text()
    old_model = (out / "model.safetensors").read_bytes()

    def killed(path, record):
        raise KeyboardInterrupt  # as if the process died between the model and the metrics

    write_record = run_files._write_record
    monkeypatch.setattr(run_files, "_write_record", killed)
    code, _, err = run(
        capsys, "train", *TINY, "--seed", "1", "--data", mnist_dir, "--out", out, "--overwrite"
    )
    assert code == 130
    assert (out / "model.safetensors").read_bytes() != old_model  # the new model was saved
    assert (out / "metrics.json").read_text() == old_record  # nothing saved was deleted before
    monkeypatch.setattr(run_files, "_write_record", write_record)

    # The old metrics name the old model's checksum: the pair is refused, with what to do instead.
    code, _, err = run(
        capsys,
        "train",
        "--config",
        out / "metrics.json",
        *TINY,
        "--data",
        mnist_dir,
        "--out",
        tmp_path / "again",
    )
    assert code == 1 and "does not belong to the model beside it" in err and "whose checksum starts" in err
    assert f"--config {out / 'model.safetensors'}" in err and not (tmp_path / "again").exists()
    # A record from before checksums were recorded is compared by its settings and results.
    legacy = json.loads(old_record)
    del legacy["model_sha256"], legacy["model_file"]
    (out / "metrics.json").write_text(json.dumps(legacy))
    code, _, err = run(
        capsys,
        "train",
        "--config",
        out / "metrics.json",
        *TINY,
        "--data",
        mnist_dir,
        "--out",
        tmp_path / "again",
    )
    assert code == 1 and "training settings or results differ" in err


def test_metrics_record_the_model_checksum_and_a_matching_pair_is_used(tmp_path, capsys, mnist_dir):
    out = tmp_path / "run"
    assert run(capsys, "train", *TINY, "--seed", "3", "--data", mnist_dir, "--out", out)[0] == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["model_sha256"] == read_header(out / "model.safetensors")["sha256"]
    code, stdout, err = run(
        capsys,
        "train",
        "--config",
        out / "metrics.json",
        "--data",
        mnist_dir,
        "--out",
        tmp_path / "again",
        "--no-progress",
        "--json",
    )
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["config"] == record["config"] and again["config"]["seed"] == 3


@pytest.mark.slow  # loads the real MNIST that $DIGITNET_DATA names, though it uses no MNIST fixture
def test_a_run_interrupted_in_its_first_epoch_says_nothing_was_saved_and_leaves_no_folder(
    tmp_path, capsys, monkeypatch
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "train", interrupted)
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", *TINY, "--out", out)
    assert code == 130 and "interrupted during the first epoch, so nothing was saved" in err
    assert not out.exists()  # created for this run, left empty: removed
    existing = tmp_path / "mine"
    existing.mkdir()
    code, _, err = run(capsys, "train", *TINY, "--out", existing)
    assert code == 130 and existing.is_dir()  # a folder the user made is never removed


def test_ctrl_c_keeps_the_model_of_the_last_finished_epoch(tmp_path, capsys, monkeypatch, mnist_dir):
    at_epoch_end = {}

    def remember(self, epoch, logs):
        at_epoch_end[epoch] = {k: v.copy() for k, v in self.model.named_state().items()}

    def stop_in_epoch_3(self, epoch, batch, loss):
        if (epoch, batch) == (3, 2):
            raise KeyboardInterrupt  # as Ctrl-C would, halfway through an epoch

    monkeypatch.setattr(ProgressBars, "on_epoch_end", remember)
    monkeypatch.setattr(ProgressBars, "on_batch_end", stop_in_epoch_3)
    out = tmp_path / "run"
    argv = ["--hidden", "8", "--train-size", "500", "--validation-size", "100", "--no-progress"]
    code, _, err = run(capsys, "train", *argv, "--epochs", "5", "--data", mnist_dir, "--out", out)
    assert code == 130 and "interrupted after epoch 2 of 5: saved the model of that epoch in" in err
    loaded = load_model(out / "model.safetensors")
    for name, array in loaded.model.named_state().items():  # epoch 2's weights, not epoch 3's first steps
        np.testing.assert_array_equal(array, at_epoch_end[2][name])
    assert [e["epoch"] for e in loaded.history["epochs"]] == [1, 2]
    assert loaded.metrics["interrupted"] is True and loaded.metrics["epochs_trained"] == 2
    record = json.loads((out / "metrics.json").read_text())
    assert record["model_sha256"] == read_header(out / "model.safetensors")["sha256"]
