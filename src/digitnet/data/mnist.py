"""Load MNIST as float32 arrays ready for training, split into train, validation and test.

Shapes use the package's letters: N images, D = 784 = H * W pixels, H = W = 28.

The 60,000 training images are split as in Nielsen's book: the *last* ``validation_size`` of them
form the validation split, used to choose hyperparameters and to stop early; the rest form the
training split. The 10,000 test images are kept apart and are never used to choose anything.

The files are read from one folder, chosen by :mod:`digitnet.data.folders`: the folder you name, else
``$DIGITNET_DATA``, else the per-user cache, which alone is created and filled by a download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet.checks import checked_integer
from digitnet.data import download as _download
from digitnet.data.folders import missing_mnist_files, mnist_sources
from digitnet.data.idx import read_idx
from digitnet.errors import DataError

__all__ = ["MNIST", "Split", "load_mnist", "load_mnist_test"]

H = W = 28  # MNIST images are 28 x 28 pixels
N_CLASSES = 10  # digits 0-9
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = _download.MNIST_FILES


@dataclass(frozen=True, eq=False)
class Split:
    """Images and labels of one part of MNIST.

    Parameters
    ----------
    x : numpy.ndarray
        float32 pixels in [0, 1] (0 = background, 1 = ink), one flattened image per row, C order.
    y : numpy.ndarray
        uint8 class ids 0-9, one per row of ``x``.

    Shape
    -----
    x : (N, D), D = 784 for MNIST. y : (N,). ``images``: (N, 28, 28).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, ``y`` is not 1-D, or they hold different numbers of examples.
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    def __post_init__(self):
        if not (isinstance(self.x, np.ndarray) and self.x.ndim == 2):
            raise ValueError(f"Split.x must be a 2-D array of shape (N, 784), got {_describe(self.x)}")
        if not (isinstance(self.y, np.ndarray) and self.y.ndim == 1):
            raise ValueError(f"Split.y must be a 1-D array of shape (N,), got {_describe(self.y)}")
        if len(self.x) != len(self.y):
            raise ValueError(
                f"Split.x holds {len(self.x)} examples but Split.y holds {len(self.y)} labels; "
                "give one label per row of x"
            )

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"Split(x={_describe(self.x)}, y={_describe(self.y)})"

    @property
    def images(self) -> np.ndarray:
        """The images as a view of ``x``, shape (N, 28, 28)."""
        if self.x.shape[1] != H * W:
            raise ValueError(
                f"Split.x has {self.x.shape[1]} columns, not {H * W}, so it does not hold {H}x{W} images"
            )
        return self.x.reshape(-1, H, W)  # (N, D) -> (N, H, W), a view of C-ordered x


@dataclass(frozen=True, eq=False)
class MNIST:
    """The three splits of MNIST returned by :func:`load_mnist`.

    Attributes
    ----------
    train : Split
        Fit the weights on this.
    validation : Split
        Choose hyperparameters and stop early on this; may be empty.
    test : Split
        The 10,000 test images: report the final accuracy on this, never choose anything with it.
    """

    train: Split
    validation: Split
    test: Split

    def first(self, train_size: int | None) -> MNIST:
        """The same splits with only the first ``train_size`` training images (views, nothing copied);
        ``self`` when ``train_size`` is None or covers them all. For quick runs and small-data studies."""
        if train_size is None or checked_integer("train_size", train_size) >= len(self.train):
            return self
        train = Split(self.train.x[:train_size], self.train.y[:train_size])  # (train_size, D)
        return MNIST(train=train, validation=self.validation, test=self.test)

    def with_extra_training(self, x: np.ndarray, y: np.ndarray) -> MNIST:
        """The same splits with ``x, y`` appended to the training images (a new array); validation and
        test untouched. Shape: x (M, D), y (M,): training (N, D) -> (N + M, D)."""
        extra = Split(np.asarray(x, dtype=self.train.x.dtype), np.asarray(y, dtype=self.train.y.dtype))
        train = Split(np.concatenate([self.train.x, extra.x]), np.concatenate([self.train.y, extra.y]))
        return MNIST(train=train, validation=self.validation, test=self.test)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    validation_size: int = 10_000,
    train_size: int | None = None,
    download: bool = True,
    progress: bool = True,
) -> MNIST:
    """Load MNIST from one folder; only the per-user cache is ever filled by a download.

    The folder is ``data_dir`` if given, else ``$DIGITNET_DATA`` if set, else the per-user cache
    (:func:`mnist_sources`). A folder you name (``data_dir`` or ``$DIGITNET_DATA``) must exist and hold
    the four files: it is never created, never downloaded into and never passed over for the next
    folder, so a mistyped name is an error rather than a surprise download. Fill such a folder with
    :func:`~digitnet.data.download_mnist` (or ``digitnet data --download``).

    Parameters
    ----------
    data_dir : str or path-like, optional
        The folder holding the four MNIST files. Default: ``$DIGITNET_DATA``, else the cache.
    validation_size : int, optional
        How many of the last training images form the validation split, 0 to 59,999.
        Default 10,000, leaving 50,000 to train on, as in Nielsen's book.
    train_size : int, optional
        Keep only the first ``train_size`` images of the training split, for quick experiments.
        Default: all of them.
    download : bool, optional
        If neither ``data_dir`` nor ``$DIGITNET_DATA`` is given and the cache lacks the files, download
        them into the cache (created if needed). Default True. With False, that raises DataError.
    progress : bool, optional
        Show download progress bars. Default True.

    Returns
    -------
    MNIST
        The train, validation and test splits, pixels scaled to [0, 1].

    Shape
    -----
    train.x : (60000 - validation_size, 784) or (train_size, 784). validation.x :
    (validation_size, 784). test.x : (10000, 784). Each ``y`` : (N,).

    Raises
    ------
    ValueError
        If ``validation_size`` or ``train_size`` is not an int in its allowed range.
    DataError
        If the folder named by ``data_dir`` or ``$DIGITNET_DATA`` does not exist, is not a folder,
        cannot be searched or lacks files; if the cache lacks them and ``download`` is False or the
        download fails; or if the files are damaged: wrong counts, image size, dtype or labels.
        Every message names the folder, what named it, and what to do.
    """
    checked_integer("validation_size", validation_size, 0)
    if train_size is not None:
        checked_integer("train_size", train_size)

    source, folder = mnist_sources(data_dir)[0]
    missing = missing_mnist_files(folder, source, required=source != "cache" or not download)
    if missing:  # only the per-user cache gets here: the one folder digitnet creates and fills itself
        # Looked up at call time so tests (and users) can point MIRRORS elsewhere.
        folder = _download.download_mnist(folder, mirrors=_download.MIRRORS, progress=progress)

    x, y = _read_pair(folder / TRAIN_IMAGES, folder / TRAIN_LABELS)
    test_x, test_y = _read_pair(folder / TEST_IMAGES, folder / TEST_LABELS)
    n_fit = len(y) - validation_size  # images left for the training split
    if n_fit < 1:
        raise ValueError(
            f"validation_size={validation_size} leaves no training images; choose 0 to {len(y) - 1}"
        )
    if train_size is not None and train_size > n_fit:
        raise ValueError(
            f"train_size={train_size} is more than the {n_fit} training images left after "
            f"validation_size={validation_size}; choose 1 to {n_fit}, or None for all"
        )
    data = MNIST(
        train=Split(x[:n_fit], y[:n_fit]),  # (n_fit, D), a view
        validation=Split(x[n_fit:], y[n_fit:]),  # the last validation_size rows: (V, D)
        test=Split(test_x, test_y),
    )
    return data.first(train_size)


def load_mnist_test(data_dir: str | os.PathLike[str] | None = None) -> Split:
    """The test split alone, from the folder :func:`load_mnist` would read, with the same checks; never
    downloaded (a server answering requests must not start a download).

    Shape: x (10000, 784) float32 in [0, 1], y (10000,) uint8.

    Raises DataError, as :func:`load_mnist` does, naming the folder and what to do.
    """
    source, folder = mnist_sources(data_dir)[0]
    missing_mnist_files(folder, source, required=True)
    return Split(*_read_pair(folder / TEST_IMAGES, folder / TEST_LABELS))


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one images file and its labels file: float32 (N, D) and uint8 (N,)."""
    raw = read_idx(images_path)
    if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[1:] != (H, W):
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, {H}, {W}), found "
            f"{raw.dtype} of shape {raw.shape}; this is not an MNIST images file, replace it"
        )
    labels = read_idx(labels_path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected uint8 labels of shape (N,), found {labels.dtype} of shape "
            f"{labels.shape}; this is not an MNIST labels file, replace it"
        )
    if len(labels) != len(raw):
        raise DataError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(raw)} images; "
            "the two files do not belong together, download them again"
        )
    if len(labels) and labels.max() >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise DataError(
            f"{labels_path}: label {labels[bad]} at index {bad} is not a digit 0-9; "
            "the file is damaged, download it again"
        )
    # One cast and one in-place division, all in float32: (N, H, W) uint8 -> (N, D) float32.
    x = raw.reshape(len(raw), H * W).astype(np.float32)
    x /= np.float32(255)
    return x, labels


def _describe(a: object) -> str:
    """``float32(50000, 784)`` for an array, the type name for anything else."""
    if isinstance(a, np.ndarray):
        return f"{a.dtype}{a.shape}"
    return type(a).__name__
