"""MNIST for digitnet: read and write IDX files, download the dataset, load it as float32 splits.

>>> from digitnet.data import load_mnist
>>> mnist = load_mnist()  # doctest: +SKIP
>>> mnist.train.x.shape, mnist.validation.x.shape, mnist.test.x.shape  # doctest: +SKIP
((50000, 784), (10000, 784), (10000, 784))
"""

from digitnet.data.augment import AUGMENTATIONS, Augment
from digitnet.data.download import download_mnist
from digitnet.data.idx import read_idx, write_idx
from digitnet.data.mnist import MNIST, Split, find_mnist_dir, load_mnist, mnist_search_path

__all__ = [
    "AUGMENTATIONS",
    "MNIST",
    "Augment",
    "Split",
    "download_mnist",
    "find_mnist_dir",
    "load_mnist",
    "mnist_search_path",
    "read_idx",
    "write_idx",
]
