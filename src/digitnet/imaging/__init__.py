"""Images in, network inputs out: MNIST's own preprocessing for photos, scans and drawings of a digit.

``decode.py`` opens untrusted image files safely (format and size checked before anything decodes, a
JPEG's scans read from its markers by ``jpeg.py``);
``ink.py`` turns any image into bright ink on black with the paper removed; ``mnist_style.py`` crops,
fits and centres that ink the way MNIST's digits were prepared.
"""

from digitnet.imaging.decode import open_image
from digitnet.imaging.ink import load_image, to_ink
from digitnet.imaging.mnist_style import Preprocessed, preprocess, preprocess_file

__all__ = ["Preprocessed", "load_image", "open_image", "preprocess", "preprocess_file", "to_ink"]
