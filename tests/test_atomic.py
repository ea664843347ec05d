"""Atomic writes: temporary files name their writer's process, and the ones killed writers left are cleaned.

The writer is really killed (SIGKILL) in one test; the others lay out the files such a writer leaves.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from digitnet.atomic import STALE_AFTER_SECONDS, _host_tag, atomic_write, remove_stale_temporaries

HOST = _host_tag()  # this machine's tag in temporary names

posix_only = pytest.mark.skipif(os.name != "posix", reason="processes are probed with POSIX signals")


def dead_pid() -> int:
    """The id of a process that has just exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def age(path, seconds):
    """Make ``path`` look last modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_temporary_file_names_the_writer_and_goes_away(tmp_path):
    with atomic_write(tmp_path / "m.bin") as f:
        f.write(b"abc")
        (tmp,) = [name for name in names(tmp_path)]
    assert re.fullmatch(rf"\.m\.bin\.{HOST}-{os.getpid()}\.[a-z0-9_]{{8}}\.tmp", tmp)
    assert names(tmp_path) == ["m.bin"] and (tmp_path / "m.bin").read_bytes() == b"abc"


@posix_only
def test_a_dead_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".model.safetensors.{HOST}-{dead_pid()}.abcd_123.tmp"
    stale.write_bytes(bytes(1000))
    other_target = tmp_path / f".metrics.json.{HOST}-{dead_pid()}.zzzzzzzz.tmp"  # any target in the folder
    other_target.write_bytes(b"{")
    with atomic_write(tmp_path / "m.bin") as f:
        f.write(b"new")
    assert names(tmp_path) == ["m.bin"]


@posix_only
def test_live_writers_temporary_files_are_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [
            tmp_path / f".a.bin.{HOST}-{os.getpid()}.abcdefgh.tmp",  # this process: another thread's write
            tmp_path / f".b.bin.{HOST}-{sleeper.pid}.abcdefgh.tmp",  # another running process
            tmp_path / f".c.bin.{HOST}-1.abcdefgh.tmp",  # init: alive, and another user's (PermissionError)
            tmp_path / f".d.bin.{HOST}-4294967295.abcdefgh.tmp",  # no process can have it: not ours to judge
        ]
        for path in kept:
            path.write_bytes(b"x")
            age(path, 10 * STALE_AFTER_SECONDS)  # however old: a live process may still write it
        assert remove_stale_temporaries(tmp_path) == []
        with atomic_write(tmp_path / "m.bin") as f:
            f.write(b"new")
        assert names(tmp_path) == sorted([p.name for p in kept] + ["m.bin"])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_old_temporary_files_without_a_pid_are_removed_after_an_hour(tmp_path):
    young, old = tmp_path / ".m.bin.abcdefgh.tmp", tmp_path / ".n.bin.ijklmnop.tmp"
    young.write_bytes(b"x")
    old.write_bytes(b"x")
    age(young, STALE_AFTER_SECONDS - 60)  # maybe a write of an older digitnet, still running
    age(old, STALE_AFTER_SECONDS + 60)
    assert remove_stale_temporaries(tmp_path) == [old]
    assert names(tmp_path) == [young.name]


@posix_only
def test_another_machines_temporary_files_wait_an_hour_whatever_their_pid(tmp_path):
    """On a shared folder a process id says nothing about another machine's processes."""
    other = "abcdef" if HOST != "abcdef" else "fedcba"
    young, old = (tmp_path / f".{n}.bin.{other}-{dead_pid()}.abcdefgh.tmp" for n in "mn")
    young.write_bytes(b"x")
    old.write_bytes(b"x")
    age(young, STALE_AFTER_SECONDS - 60)  # maybe a write still running over there
    age(old, STALE_AFTER_SECONDS + 60)
    assert remove_stale_temporaries(tmp_path) == [old]
    assert names(tmp_path) == [young.name]


@posix_only
def test_files_that_do_not_follow_the_pattern_are_never_touched(tmp_path):
    pid = dead_pid()
    others = [
        f"m.bin.{HOST}-{pid}.abcdefgh.tmp",  # not hidden
        f".m.bin.{HOST}-{pid}.abcdefgh.tmp.bak",
        f".m.bin.{HOST}-{pid}.ABCDEFGH.tmp",  # not a mkstemp name
        f".m.bin.{HOST}-{pid}.abcdefg.tmp",  # 7 random characters, not 8
        ".m.bin.tmp",
        "model.safetensors",
    ]
    for name in others:
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, 10 * STALE_AFTER_SECONDS)
    young = ".m.bin.0.abcdefgh.tmp"  # pid 0 would probe the whole process group: an old-style name,
    (tmp_path / young).write_bytes(b"x")  # for a target "m.bin.0", so it waits for the hour
    others.append(young)
    folder = tmp_path / f".dir.{HOST}-{pid}.abcdefgh.tmp"  # matches, but is a folder
    folder.mkdir()
    link = tmp_path / f".link.{HOST}-{pid}.abcdefgh.tmp"  # matches, but is a link to someone's file
    link.symlink_to(tmp_path / "model.safetensors")
    assert remove_stale_temporaries(tmp_path) == []
    assert names(tmp_path) == sorted([*others, folder.name, link.name])


@posix_only
def test_cleaning_never_makes_a_write_fail(tmp_path, monkeypatch):
    (tmp_path / f".m.bin.{HOST}-{dead_pid()}.abcdefgh.tmp").write_bytes(b"x")

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr("digitnet.atomic.os.unlink", refuse)
    with atomic_write(tmp_path / "m.bin") as f:
        f.write(b"new")
    assert (tmp_path / "m.bin").read_bytes() == b"new"
    assert remove_stale_temporaries(tmp_path / "no such folder") == []


WRITER = """
import sys, time
from digitnet.atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(bytes(2_000_000))
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


@posix_only
def test_after_kill_9_the_next_save_removes_the_litter(tmp_path):
    from digitnet.modelfile import save_model
    from digitnet.nn import Dense, Sequential

    target = tmp_path / "model.safetensors"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        (litter,) = [
            p for p in tmp_path.iterdir() if p.name.startswith(f".model.safetensors.{HOST}-{writer.pid}.")
        ]
        assert litter.stat().st_size == 2_000_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert litter.exists()  # nothing could remove it
    save_model(target, Sequential([Dense(10)], input_shape=(4,)))
    assert names(tmp_path) == ["model.safetensors"]
