"""The downloader, against HTTP mirrors on 127.0.0.1: fall-through, checksums, atomic files."""

import gzip
import re

import pytest

import digitnet.data.download as download
from digitnet.data import download_mnist, load_mnist
from digitnet.data.download import MIRRORS, MNIST_FILES, verify_file
from digitnet.errors import DataError

LABELS = ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # small: 29 kB and 5 kB


def names_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def bad_mirror(tmp_path, mirror_folder):
    """A folder serving valid gzip files whose content has one flipped byte, so checksums fail."""
    folder = tmp_path / "bad-mirror"
    folder.mkdir()
    for name in LABELS:
        content = bytearray(gzip.decompress((mirror_folder / name).read_bytes()))
        content[-1] ^= 0x01
        (folder / name).write_bytes(gzip.compress(bytes(content)))
    return folder


# --- constants and verify_file ----------------------------------------------------------------


def test_constants():
    assert sorted(MNIST_FILES) == sorted(
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in MNIST_FILES.values())
    assert MIRRORS[:2] == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )


def test_verify_file_on_real_files(mnist_dir):
    for name, digest in MNIST_FILES.items():
        assert verify_file(mnist_dir / name, digest), name


def test_verify_file_rejects(tmp_path, mnist_dir):
    name = "t10k-labels-idx1-ubyte.gz"
    digest = MNIST_FILES[name]
    assert not verify_file(mnist_dir / name, MNIST_FILES["train-labels-idx1-ubyte.gz"])
    assert not verify_file(tmp_path / name, digest)  # missing
    content = (mnist_dir / name).read_bytes()
    (tmp_path / "cut.gz").write_bytes(content[:-20])
    assert not verify_file(tmp_path / "cut.gz", digest)  # corrupt gzip
    (tmp_path / "raw").write_bytes(gzip.decompress(content))
    assert verify_file(tmp_path / "raw", digest)  # uncompressed content is hashed as is


# --- downloads --------------------------------------------------------------------------------


def test_download_into_empty_folder(tmp_path, serve, mirror_folder):
    target = tmp_path / "new" / "mnist"
    result = download_mnist(target, mirrors=[serve(mirror_folder)], files=LABELS, progress=False)
    assert result == target
    assert names_in(target) == sorted(LABELS)  # nothing else, no temporary files
    for name in LABELS:
        assert verify_file(target / name, MNIST_FILES[name])


@pytest.mark.parametrize("first", ["dead", "404", "corrupt", "timeout", "not-gzip"])
def test_falls_through_to_the_next_mirror(
    tmp_path, serve, mirror_folder, dead_url, silent_url, bad_mirror, first
):
    if first == "dead":
        first_url = dead_url
    elif first == "404":
        (tmp_path / "empty").mkdir()
        first_url = serve(tmp_path / "empty")
    elif first == "corrupt":
        first_url = serve(bad_mirror)
    elif first == "timeout":
        first_url = silent_url
    else:
        for name in LABELS:
            (bad_mirror / name).write_bytes(b"<html>Access denied</html>")
        first_url = serve(bad_mirror)
    target = tmp_path / "target"
    download_mnist(
        target, mirrors=[first_url, serve(mirror_folder)], files=LABELS, progress=False, timeout=0.5
    )
    assert names_in(target) == sorted(LABELS)
    for name in LABELS:
        assert verify_file(target / name, MNIST_FILES[name])


def test_all_mirrors_fail(tmp_path, serve, dead_url, bad_mirror):
    (tmp_path / "empty").mkdir()
    mirrors = [dead_url, serve(tmp_path / "empty"), serve(bad_mirror)]
    target = tmp_path / "target"
    with pytest.raises(DataError) as info:
        download_mnist(target, mirrors=mirrors, progress=False)
    message = str(info.value)
    assert str(target) in message
    for mirror in mirrors:
        assert mirror + "train-images-idx3-ubyte.gz" in message
    assert "refused" in message.lower() and "404" in message
    for name in MNIST_FILES:
        assert name in message
    assert "DIGITNET_DATA" in message
    assert names_in(target) == []  # no partial or temporary files


def test_checksum_failure_is_reported(tmp_path, serve, bad_mirror):
    target = tmp_path / "target"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download_mnist(target, mirrors=serve(bad_mirror), files=LABELS[1], progress=False)
    assert MNIST_FILES[LABELS[1]] in str(info.value)
    assert names_in(target) == []


def test_valid_files_are_kept_and_bad_ones_replaced(tmp_path, serve, mirror_folder, dead_url):
    target = tmp_path / "target"
    target.mkdir()
    good, bad = LABELS
    (target / good).write_bytes((mirror_folder / good).read_bytes())
    (target / bad).write_bytes(b"half a file")
    with pytest.raises(DataError) as info:  # the good file needs no mirror, the bad one does
        download_mnist(target, mirrors=[dead_url], files=LABELS, progress=False)
    assert bad in str(info.value) and good not in str(info.value)
    download_mnist(target, mirrors=[dead_url, serve(mirror_folder)], files=LABELS, progress=False)
    assert verify_file(target / bad, MNIST_FILES[bad])
    assert names_in(target) == sorted(LABELS)


def test_interrupted_download_leaves_nothing(tmp_path, serve, mirror_folder, monkeypatch):
    def interrupt(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_content_sha256", interrupt)
    target = tmp_path / "target"
    with pytest.raises(KeyboardInterrupt):
        download_mnist(target, mirrors=[serve(mirror_folder)], files=LABELS, progress=False)
    assert names_in(target) == []


def test_progress_bar_goes_to_stderr(tmp_path, serve, mirror_folder, capsys):
    url = serve(mirror_folder)
    download_mnist(tmp_path / "a", mirrors=[url], files=LABELS[1], progress=True)
    assert LABELS[1] in capsys.readouterr().err
    download_mnist(tmp_path / "b", mirrors=[url], files=LABELS[1], progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"files": ["mnist.npz"]}, "unknown MNIST file 'mnist.npz'"),
        ({"mirrors": []}, "mirrors is empty"),
        ({"mirrors": ["example.org/mnist"]}, "'example.org/mnist' is not a URL"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, not 0"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        download_mnist(tmp_path / "target", **kwargs)
    assert not (tmp_path / "target").exists()


def test_target_that_cannot_be_created(tmp_path, dead_url):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match="cannot create the MNIST folder") as info:
        download_mnist(tmp_path / "file" / "mnist", mirrors=[dead_url], progress=False)
    assert str(tmp_path / "file" / "mnist") in str(info.value)


# --- load_mnist(download=True) ----------------------------------------------------------------


def test_load_mnist_downloads_into_the_cache(user_cache, serve, mirror_folder, dead_url, monkeypatch):
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.setattr(download, "MIRRORS", (dead_url, serve(mirror_folder)))
    data = load_mnist(progress=False)
    assert names_in(user_cache) == sorted(MNIST_FILES)  # the cache was created and filled
    assert (len(data.train), len(data.validation), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.test.y[:5].tolist() == [7, 2, 1, 0, 4]


@pytest.mark.parametrize("where", ["explicit", "env", "cache"])
@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
def test_load_mnist_downloads_only_into_the_cache(
    tmp_path, user_cache, monkeypatch, write_fake_mnist, where, exists
):
    calls = []

    def fake_download(target_dir, *, mirrors, progress):
        calls.append(target_dir)
        return write_fake_mnist(target_dir)

    monkeypatch.setattr(download, "download_mnist", fake_download)
    folders = {"explicit": tmp_path / "explicit", "env": tmp_path / "env", "cache": user_cache}
    if exists:
        folders[where].mkdir(parents=True)
    if where == "cache":
        monkeypatch.delenv("DIGITNET_DATA", raising=False)
    else:
        monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "env"))
    explicit = folders["explicit"] if where == "explicit" else None
    if where == "cache":
        assert len(load_mnist(explicit, validation_size=2, progress=False).train) == 10
        assert calls == [user_cache]
        return
    source = {"explicit": "data_dir", "env": "DIGITNET_DATA"}[where]
    with pytest.raises(
        DataError, match=f"{source} names .*, which {'lacks' if exists else 'does not exist'}"
    ):
        load_mnist(explicit, validation_size=2, progress=False)
    assert calls == []  # a folder the caller named is never downloaded into
    assert folders[where].exists() == exists  # nor created
