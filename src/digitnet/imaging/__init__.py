"""Images in, network inputs out: MNIST's own preprocessing for photos, scans and drawings of a digit."""

from digitnet.imaging.mnist_style import (
    Preprocessed,
    load_image,
    preprocess,
    preprocess_file,
    to_ink,
)

__all__ = ["Preprocessed", "load_image", "preprocess", "preprocess_file", "to_ink"]
