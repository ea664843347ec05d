"""Models that ship inside the package, so digitnet can predict right after ``pip install``, with no dataset.

Each is the project's own preset, trained with the command shown, then calibrated by ``digitnet
calibrate`` (a temperature and a "not sure" threshold fitted on digits drawn with the page's pen)::

    digitnet train --preset drawn-cnn --out runs/drawn-cnn
    digitnet calibrate runs/drawn-cnn --out src/digitnet/models/cnn.safetensors --overwrite

``cnn.safetensors`` (the default: the drawing page, ``digitnet predict default`` and the API answer with
it) is the ``drawn-cnn`` preset: fast-cnn's network (28x28-c8-pool-c32-pool-c64-pool-128-10, 96,522
parameters) trained for 18 epochs on all 60,000 images, distorted and with the writing styles MNIST lacks
drawn onto some of them (slashed 0s, flagged and footed 1s, crossed 7s, curled 9s), 2 workers.

``mlp.safetensors`` is the ``drawn-mlp`` preset: the default 784-100-10 recipe on the same distorted,
styled digits, kept for teaching (the page draws its neurons). Same two commands with ``drawn-mlp``.

``lenet5.safetensors`` is the ``lenet5`` preset (28x28-c6-pool-c16-pool-120-84-10, 20 epochs on MNIST
as it is, 2 workers), calibrated the same way: a network that never saw the new styles, for comparison.

The README's results table gives each one's accuracy on MNIST's test set and on drawn digits.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MODEL", "DEFAULT_NAME", "MLP_MODEL", "bundled_models"]

DEFAULT_NAME = "cnn"
"""The bundled model that answers when none is named; ``default`` names it on the command line too."""

DEFAULT_MODEL = Path(__file__).with_name(f"{DEFAULT_NAME}.safetensors")

MLP_MODEL = Path(__file__).with_name("mlp.safetensors")
"""The bundled 784-100-10 network, whose every neuron the page and the report can draw."""


def bundled_models() -> dict[str, Path]:
    """The shipped model files by name (the file name without ``.safetensors``), the default first."""
    found = {p.stem: p for p in sorted(Path(__file__).parent.glob("*.safetensors"))}
    return dict(sorted(found.items(), key=lambda item: item[0] != DEFAULT_NAME))
