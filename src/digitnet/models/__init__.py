"""Models that ship inside the package, so digitnet can predict right after ``pip install``, with no dataset.

``default.safetensors`` is the project's own ``default`` preset (784-100-10, ReLU, cross-entropy, Adam,
L2 3e-4, cosine, 40 epochs on 50,000 images; 97.96% on the MNIST test set, 320 kB). Reproduce it with::

    digitnet train --out runs/default
    cp runs/default/model.safetensors src/digitnet/models/default.safetensors

``lenet5.safetensors`` is the ``lenet5`` preset (a LeNet-5 style CNN, 28x28-c6-pool-c16-pool-120-84-10,
20 epochs on all 60,000 images with 2 workers; 99.09% on the test set, 431 kB), so the drawing page can
compare a convolutional network with the MLP::

    digitnet train --preset lenet5 --out runs/lenet5
    cp runs/lenet5/model.safetensors src/digitnet/models/lenet5.safetensors
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MODEL", "bundled_models"]

DEFAULT_MODEL = Path(__file__).with_name("default.safetensors")


def bundled_models() -> dict[str, Path]:
    """The shipped model files by name (the file name without ``.safetensors``)."""
    return {p.stem: p for p in sorted(Path(__file__).parent.glob("*.safetensors"))}
