"""digitnet: the handwritten-digit network from the explainers, built from first principles in NumPy.

The package's folders follow the architecture:

* ``digitnet.nn``: the engine (layers, activations, costs, optimisers, schedules, ``Sequential``);
* ``digitnet.data``: MNIST's IDX files, the loader and the verified downloader;
* ``digitnet.imaging``: MNIST-style preprocessing of photos and drawings of digits;
* ``digitnet.modelfile``: safe model files; ``digitnet.config``, ``digitnet.presets`` and
  ``digitnet.runs``: training configurations and the one training path;
* ``digitnet.cli``: the ``digitnet`` command.
"""

from digitnet.config import TrainConfig
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
from digitnet.presets import PRESETS
from digitnet.runs import build_model, train
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
