"""digitnet: the handwritten-digit network from the explainers, built from first principles in NumPy.

The package's folders follow the architecture, from the bottom up (``tests/test_architecture.py``
keeps every import pointing down):

* ``digitnet.nn``: the engine (layers, costs, optimisers, ``Sequential``, the training loop); start
  reading at ``docs/reading-guide.md``;
* ``digitnet.data``: MNIST's files -> arrays -> splits (IDX files, the loader, the verified downloader);
* ``digitnet.imaging``: everything that moves pixels: decoding untrusted images, MNIST-style
  preprocessing, the warper, the blur and augmentation;
* ``digitnet.modelfile``: safe model files; ``digitnet.training.config``, ``digitnet.training.presets`` and
  ``digitnet.training.runs``: training configurations and the one training path;
* ``digitnet.report``, ``digitnet.experiments``, ``digitnet.serve``: what is built on the library;
* ``digitnet.cli``: the ``digitnet`` command.
"""

from digitnet.data import load_mnist
from digitnet.imaging import Augment, preprocess, preprocess_file
from digitnet.modelfile import load_model, save_model
from digitnet.nn import (
    SGD,
    Adam,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from digitnet.training.config import TrainConfig
from digitnet.training.presets import PRESETS
from digitnet.training.runs import build_model, train
from digitnet.version import __version__

__all__ = [
    "PRESETS",
    "SGD",
    "Adam",
    "Augment",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainConfig",
    "__version__",
    "build_model",
    "load_mnist",
    "load_model",
    "preprocess",
    "preprocess_file",
    "save_model",
    "train",
]
