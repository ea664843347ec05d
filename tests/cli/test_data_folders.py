"""Which folder the commands read MNIST from: a folder you name is used or refused, never passed over,
never created and never downloaded into; only the per-user cache is. No test here uses the network."""

import json
import os
import shutil

import pytest
from cli_helpers import TINY, run

import digitnet.data.download as download
from digitnet.cli.main import main
from digitnet.data.download import MNIST_FILES


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(download, "download_mnist", refuse)


@pytest.fixture
def copy_download(monkeypatch, mnist_dir):
    """Replace the download by a copy of the real files; returns the list of folders filled."""
    filled = []

    def fake(target_dir, *, mirrors=None, files=None, progress=True, timeout=30.0):
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in files or MNIST_FILES:
            shutil.copyfile(mnist_dir / name, target_dir / name)
        filled.append(target_dir)
        return target_dir

    monkeypatch.setattr(download, "download_mnist", fake)
    return filled


def test_data_flag_that_does_not_exist_is_refused_by_name(capsys, tmp_path, no_download, mnist_dir):
    typo = tmp_path / "mnsit"
    for argv in (
        ["train", *TINY],
        ["evaluate", "default"],
        ["report", "default"],
        ["experiment", "vanishing"],
        ["data"],
    ):
        with pytest.raises(SystemExit) as info:
            main([*argv, "--data", str(typo)])
        err = capsys.readouterr().err
        assert info.value.code == 2 and f"error: --data names {typo}, which does not exist" in err
        assert "leave --data out" in err
    assert not typo.exists()


def test_data_flag_never_falls_back(capsys, tmp_path, no_download, mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(mnist_dir))  # a good folder that must not be used instead
    (tmp_path / "file").write_text("")
    (tmp_path / "empty").mkdir()
    for folder, message in [
        (tmp_path / "file", "is a file, not a folder"),
        (tmp_path / "empty", "lacks train-images-idx3-ubyte.gz"),
    ]:
        with pytest.raises(SystemExit):
            main(["train", *TINY, "--data", str(folder), "--out", str(tmp_path / "run")])
        err = capsys.readouterr().err
        assert f"--data names {folder}, which" in err and message in err
    assert "digitnet data --download --data" in err
    assert not (tmp_path / "run").exists()


def test_a_mistyped_digitnet_data_is_an_error_not_a_download(capsys, tmp_path, no_download, monkeypatch):
    typo = tmp_path / "mnsit"
    monkeypatch.setenv("DIGITNET_DATA", str(typo))
    for argv in (
        ["train", *TINY, "--out", tmp_path / "run"],
        ["evaluate", "default"],
        ["data"],
        ["data", "--download"],
        ["report", "default", "--out", tmp_path / "report"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1 and f"DIGITNET_DATA names {typo}, which does not exist" in err, argv
        assert "Traceback" not in err
    assert not typo.exists() and not (tmp_path / "run").exists() and not (tmp_path / "report").exists()


def test_a_folder_that_cannot_be_searched_gets_a_message_not_a_traceback(
    capsys, tmp_path, monkeypatch, mnist_dir, unsearchable
):
    locked = tmp_path / "locked"
    locked.mkdir()
    unsearchable(locked)
    monkeypatch.setenv("DIGITNET_DATA", str(locked))
    for argv in (
        ["data"],
        ["data", "--json"],
        ["train", *TINY, "--out", tmp_path / "run"],
        ["evaluate", "default"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1 and "cannot be searched (Permission denied)" in err and "Traceback" not in err, argv
    monkeypatch.delenv("DIGITNET_DATA")
    with pytest.raises(SystemExit):
        main(["evaluate", "default", "--data", str(locked)])
    assert "--data names" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root searches any folder")
def test_a_folder_without_search_permission(capsys, tmp_path, monkeypatch, mnist_dir):
    locked = tmp_path / "locked"
    shutil.copytree(mnist_dir, locked)
    locked.chmod(0o600)
    monkeypatch.setenv("DIGITNET_DATA", str(locked))
    try:
        code, out, err = run(capsys, "data")
    finally:
        locked.chmod(0o700)
    assert code == 1 and "cannot be searched" in err


def test_data_download_fills_only_the_cache(capsys, tmp_path, monkeypatch, copy_download, user_cache):
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    code, out, err = run(capsys, "data", "--json")
    assert code == 1 and json.loads(out)["found"] is None and not user_cache.exists()
    code, out, err = run(capsys, "data", "--download", "--json")
    assert code == 0 and json.loads(out)["found"] == str(user_cache) and copy_download == [user_cache]


def test_data_download_into_an_existing_named_folder(capsys, tmp_path, copy_download):
    folder = tmp_path / "mine"
    folder.mkdir()
    code, out, err = run(capsys, "data", "--data", folder)
    assert code == 1 and "lacks" in out and "digitnet data --download --data" in out
    code, out, err = run(capsys, "data", "--data", folder, "--download", "--json")
    assert code == 0 and json.loads(out)["found"] == str(folder) and copy_download == [folder]


def test_data_shows_the_folder_used_and_what_it_overrides(capsys, mnist_dir, user_cache, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(mnist_dir))
    code, out, err = run(capsys, "data")
    assert code == 0
    used, other = [line for line in out.splitlines() if line.endswith("used")]
    assert used.startswith(str(mnist_dir)) and "$DIGITNET_DATA" in used and "4" in used
    assert other.startswith(str(user_cache)) and other.endswith("not used")
