"""Images in, network inputs out: MNIST's own preprocessing for photos, scans and drawings of a digit.

``ink.py`` turns any image into bright ink on black with the paper removed; ``mnist_style.py`` crops,
fits and centres that ink the way MNIST's digits were prepared.
"""

from digitnet.imaging.ink import load_image, to_ink
from digitnet.imaging.mnist_style import Preprocessed, preprocess, preprocess_file

__all__ = ["Preprocessed", "load_image", "preprocess", "preprocess_file", "to_ink"]
