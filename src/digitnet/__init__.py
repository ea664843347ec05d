"""digitnet: the handwritten-digit network from the explainers, built from first principles in NumPy.

The package's folders follow the architecture:

* ``digitnet.nn``: the engine (layers, activations, costs, optimisers, schedules, ``Sequential``);
* ``digitnet.data``: MNIST's IDX files, the loader and the verified downloader;
* ``digitnet.imaging``: MNIST-style preprocessing of photos and drawings of digits;
* ``digitnet.modelfile``: safe model files; ``digitnet.config``, ``digitnet.presets`` and
  ``digitnet.recipes``: training configurations and the one training path;
* ``digitnet.cli``: the ``digitnet`` command.
"""

__version__ = "0.1.0"

from digitnet.config import TrainConfig  # noqa: E402
from digitnet.data import Augment, load_mnist  # noqa: E402
from digitnet.imaging import preprocess, preprocess_file  # noqa: E402
from digitnet.modelfile import load_model, save_model  # noqa: E402
from digitnet.nn import (  # noqa: E402
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
from digitnet.presets import PRESETS  # noqa: E402
from digitnet.recipes import build_model, train  # noqa: E402

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
