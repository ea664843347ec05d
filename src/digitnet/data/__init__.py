"""MNIST for digitnet, from files to arrays to splits: read and write IDX files, download the dataset,
find the folder it is read from, load it as float32 splits.

>>> from digitnet.data import load_mnist
>>> mnist = load_mnist()  # doctest: +SKIP
>>> mnist.train.x.shape, mnist.validation.x.shape, mnist.test.x.shape  # doctest: +SKIP
((50000, 784), (10000, 784), (10000, 784))
"""

from digitnet.data.download import download_mnist
from digitnet.data.folders import find_mnist_dir, mnist_search_path
from digitnet.data.idx import read_idx, write_idx
from digitnet.data.mnist import MNIST, Split, load_mnist, load_mnist_test

__all__ = [
    "MNIST",
    "Split",
    "download_mnist",
    "find_mnist_dir",
    "load_mnist",
    "load_mnist_test",
    "mnist_search_path",
    "read_idx",
    "write_idx",
]
