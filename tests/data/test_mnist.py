"""The MNIST loader: real data statistics, the split rules, argument checks and which folder it reads."""

import os
import re

import numpy as np
import pytest

import digitnet.data.download as download
from digitnet.data import MNIST, Split, find_mnist_dir, load_mnist, mnist_search_path, read_idx
from digitnet.data.download import MNIST_FILES
from digitnet.data.folders import mnist_sources
from digitnet.errors import DataError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(mnist_dir) -> MNIST:
    return load_mnist(mnist_dir, download=False, progress=False)


# --- real MNIST -------------------------------------------------------------------------------


def test_shapes_and_dtypes(mnist):
    for split, n in [(mnist.train, 50_000), (mnist.validation, 10_000), (mnist.test, 10_000)]:
        assert len(split) == n
        assert split.x.shape == (n, 784) and split.x.dtype == np.float32
        assert split.x.flags.c_contiguous
        assert split.y.shape == (n,) and split.y.dtype == np.uint8
        assert split.images.shape == (n, 28, 28)
        assert np.shares_memory(split.images, split.x)


def test_pixel_range_and_mean(mnist):
    parts = [mnist.train.x, mnist.validation.x]  # together, all 60,000 training images
    assert min(x.min() for x in parts) == 0.0 and max(x.max() for x in parts) == 1.0
    mean = sum(x.sum(dtype=np.float64) for x in parts) / (60_000 * 784)
    assert mean == pytest.approx(0.1307, abs=1e-4)


def test_label_counts(mnist):
    y = np.concatenate([mnist.train.y, mnist.validation.y])
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.test.y, minlength=10).tolist() == TEST_COUNTS


def test_validation_is_the_last_10000(mnist, mnist_dir):
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(mnist.validation.y, labels[50_000:])
    np.testing.assert_array_equal(mnist.train.y, labels[:50_000])
    np.testing.assert_array_equal(mnist.validation.images[-1] * 255, images[-1])
    np.testing.assert_array_equal(mnist.train.images[0] * 255, images[0])


def test_validation_size_zero(mnist_dir):
    data = load_mnist(mnist_dir, validation_size=0, download=False)
    assert data.train.x.shape == (60_000, 784)
    assert data.validation.x.shape == (0, 784) and data.validation.y.shape == (0,)
    assert len(data.validation) == 0


def test_train_size_keeps_the_first_images(mnist_dir, mnist):
    data = load_mnist(mnist_dir, validation_size=5_000, train_size=1_000, download=False)
    assert len(data.train) == 1_000 and len(data.validation) == 5_000
    np.testing.assert_array_equal(data.train.x, mnist.train.x[:1_000])
    np.testing.assert_array_equal(data.validation.y, mnist.validation.y[-5_000:])
    assert len(data.test) == 10_000


# --- the split rules, on a tiny fake dataset --------------------------------------------------


def test_split_rules_on_fake_data(fake_mnist):
    labels = read_idx(fake_mnist / "train-labels-idx1-ubyte.gz")
    images = read_idx(fake_mnist / "train-images-idx3-ubyte.gz")
    data = load_mnist(fake_mnist, validation_size=4, train_size=5, download=False)
    np.testing.assert_array_equal(data.train.y, labels[:5])
    np.testing.assert_array_equal(data.validation.y, labels[8:])
    np.testing.assert_array_equal(data.validation.x, images[8:].reshape(4, 784) / np.float32(255))
    assert len(data.test) == 5


@pytest.mark.parametrize("value", [-1, 1.5, True, "10", None])
def test_bad_validation_size(tmp_path, value):
    with pytest.raises(ValueError, match="validation_size") as info:
        load_mnist(tmp_path, validation_size=value, download=False)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [0, -3, 2.0, False])
def test_bad_train_size(tmp_path, value):
    with pytest.raises(ValueError, match="train_size") as info:
        load_mnist(tmp_path, train_size=value, download=False)
    assert repr(value) in str(info.value)


def test_sizes_beyond_the_data(fake_mnist):
    with pytest.raises(ValueError, match="validation_size=12 leaves no training images; choose 0 to 11"):
        load_mnist(fake_mnist, validation_size=12, download=False)
    with pytest.raises(ValueError, match="train_size=9 .* choose 1 to 8"):
        load_mnist(fake_mnist, validation_size=4, train_size=9, download=False)


# --- damaged datasets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"train-labels-idx1-ubyte.gz": np.zeros(11, np.uint8)}, "11 labels but"),
        ({"t10k-images-idx3-ubyte.gz": np.zeros((5, 27, 27), np.uint8)}, "(5, 27, 27)"),
        ({"t10k-images-idx3-ubyte.gz": np.zeros((5, 28, 28), np.float32)}, "float32"),
        ({"train-labels-idx1-ubyte.gz": np.full(12, 10, np.uint8)}, "label 10 at index 0"),
        ({"t10k-labels-idx1-ubyte.gz": np.zeros((5, 1), np.uint8)}, "shape (5, 1)"),
    ],
    ids=["count-mismatch", "not-28x28", "float-images", "label-10", "2d-labels"],
)
def test_damaged_dataset(tmp_path, write_fake_mnist, override, fragment):
    folder = write_fake_mnist(tmp_path / "bad", **override)
    with pytest.raises(DataError) as info:
        load_mnist(folder, download=False)
    message = str(info.value)
    assert fragment in message
    assert str(folder) in message


# --- Split --------------------------------------------------------------------------------------


def test_split_checks_its_arrays():
    with pytest.raises(ValueError, match="3 examples but .* 2 labels"):
        Split(np.zeros((3, 784), np.float32), np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"Split.x must be a 2-D array .* float32\(784,\)"):
        Split(np.zeros(784, np.float32), np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="Split.y must be a 1-D array"):
        Split(np.zeros((1, 784), np.float32), [3])
    split = Split(np.zeros((2, 784), np.float32), np.zeros(2, np.uint8))
    assert repr(split) == "Split(x=float32(2, 784), y=uint8(2,))"
    with pytest.raises(AttributeError):
        split.x = None  # frozen


# --- where the files are looked for -----------------------------------------------------------


@pytest.fixture
def three_folders(tmp_path, user_cache, monkeypatch, write_fake_mnist):
    """An explicit folder, a $DIGITNET_DATA folder and the cache folder, each with all four files."""
    explicit = write_fake_mnist(tmp_path / "explicit")
    env = write_fake_mnist(tmp_path / "env")
    cache = write_fake_mnist(user_cache)
    monkeypatch.setenv("DIGITNET_DATA", str(env))
    return explicit, env, cache


def test_search_path_order(tmp_path, user_cache, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "env"))
    assert mnist_search_path(tmp_path / "x") == [tmp_path / "x", tmp_path / "env", user_cache]
    assert mnist_search_path() == [tmp_path / "env", user_cache]
    assert mnist_search_path(str(tmp_path / "env")) == [tmp_path / "env", user_cache]  # no repeats
    monkeypatch.delenv("DIGITNET_DATA")
    assert mnist_search_path() == [user_cache]


def test_explicit_folder_beats_env(three_folders):
    explicit, env, cache = three_folders
    assert find_mnist_dir(explicit) == explicit
    assert find_mnist_dir() == env


def test_env_beats_cache(three_folders, monkeypatch):
    explicit, env, cache = three_folders
    assert find_mnist_dir() == env
    monkeypatch.delenv("DIGITNET_DATA")
    assert find_mnist_dir() == cache


def test_a_named_folder_is_never_passed_over(three_folders):
    explicit, env, cache = three_folders
    (explicit / "t10k-labels-idx1-ubyte.gz").unlink()
    assert find_mnist_dir(explicit) is None  # not env, though env holds the files
    with pytest.raises(DataError, match="data_dir names .* lacks t10k-labels-idx1-ubyte.gz") as info:
        load_mnist(explicit, download=False)
    assert "download_mnist(" in str(info.value)
    (env / "t10k-images-idx3-ubyte.gz").unlink()
    assert find_mnist_dir() is None  # not the cache, though the cache holds the files
    with pytest.raises(DataError, match="DIGITNET_DATA names .* lacks t10k-images-idx3-ubyte.gz") as info:
        load_mnist()
    assert "digitnet data --download" in str(info.value)


def test_load_uses_the_first_complete_folder(three_folders, write_fake_mnist):
    explicit, env, cache = three_folders
    write_fake_mnist(explicit, n_train=20)
    write_fake_mnist(env, n_train=30)
    assert len(load_mnist(explicit, validation_size=0, download=False).train) == 20
    assert len(load_mnist(validation_size=0, download=False).train) == 30


def test_empty_cache_without_download_says_what_to_do(user_cache, monkeypatch):
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    with pytest.raises(DataError) as info:
        load_mnist(download=False)
    message = str(info.value)
    assert str(user_cache) in message and "per-user cache" in message
    for name in MNIST_FILES:
        assert name in message
    assert "digitnet data --download" in message
    assert not user_cache.exists()  # nothing created without a download


# --- folders that are not there, not folders, or cannot be searched ---------------------------


def test_sources_name_what_chose_each_folder(tmp_path, user_cache, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "env"))
    assert mnist_sources(tmp_path / "x") == [
        ("data_dir", tmp_path / "x"),
        ("DIGITNET_DATA", tmp_path / "env"),
        ("cache", user_cache),
    ]
    assert mnist_sources(tmp_path / "env")[0] == ("data_dir", tmp_path / "env")  # listed once, first name


@pytest.mark.parametrize("via", ["data_dir", "DIGITNET_DATA"])
def test_a_missing_named_folder_is_an_error_and_never_created(tmp_path, monkeypatch, via):
    typo = tmp_path / "mnsit"
    monkeypatch.setattr(download, "download_mnist", _no_download)
    if via == "DIGITNET_DATA":
        monkeypatch.setenv("DIGITNET_DATA", str(typo))
    for call in (
        lambda: find_mnist_dir(typo if via == "data_dir" else None),
        lambda: load_mnist(typo if via == "data_dir" else None, progress=False),
    ):
        with pytest.raises(DataError, match=f"{via} names {re.escape(str(typo))}, which does not exist"):
            call()
    assert not typo.exists()


def test_a_file_is_not_a_data_folder(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_mnist(tmp_path / "file", download=False)
    with pytest.raises(DataError, match="does not exist"):  # a path under a file does not exist
        load_mnist(tmp_path / "file" / "mnist", download=False)


def test_a_folder_that_cannot_be_searched_gets_a_clear_message(
    tmp_path, monkeypatch, fake_mnist, unsearchable
):
    unsearchable(fake_mnist)
    monkeypatch.setenv("DIGITNET_DATA", str(fake_mnist))
    for call in (find_mnist_dir, lambda: load_mnist(download=False)):
        with pytest.raises(
            DataError, match=r"DIGITNET_DATA names .*, which cannot be searched \(Permission denied\)"
        ):
            call()


def test_a_symlink_loop_cannot_be_searched(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)  # os.stat fails with ELOOP: an operating-system error that is not "missing"
    with pytest.raises(DataError, match="data_dir names .*loop, which cannot be searched"):
        find_mnist_dir(loop)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root searches any folder")
def test_a_folder_without_search_permission(fake_mnist):
    fake_mnist.chmod(0o600)
    try:
        with pytest.raises(DataError, match="cannot be searched"):
            load_mnist(fake_mnist, download=False)
    finally:
        fake_mnist.chmod(0o700)


def _no_download(*args, **kwargs):
    raise AssertionError("nothing may be downloaded into a folder the caller named")


def test_first_keeps_the_first_training_images_as_views():
    x, y = np.arange(24, dtype=np.float32).reshape(6, 4), np.arange(6)
    data = MNIST(Split(x, y), Split(x[:0], y[:0]), Split(x[:2], y[:2]))
    assert data.first(None) is data and data.first(6) is data and data.first(60) is data
    short = data.first(2)
    np.testing.assert_array_equal(short.train.y, [0, 1])
    assert np.shares_memory(short.train.x, x) and short.test is data.test


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_first_refuses_what_is_not_a_count(value):
    x, y = np.zeros((6, 4), np.float32), np.arange(6)
    data = MNIST(Split(x, y), Split(x[:0], y[:0]), Split(x, y))
    with pytest.raises(ValueError, match="train_size must be a positive integer"):
        data.first(value)


def test_the_test_split_alone_is_the_same_split_and_never_downloaded(mnist, mnist_dir, tmp_path, monkeypatch):
    from digitnet.data import load_mnist_test

    test = load_mnist_test(mnist_dir)
    np.testing.assert_array_equal(test.x, mnist.test.x)
    np.testing.assert_array_equal(test.y, mnist.test.y)
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: named, not filled
    with pytest.raises(DataError):
        load_mnist_test()
    assert not any(tmp_path.rglob("*.gz"))
