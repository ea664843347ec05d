"""Everything that reads, prepares or moves pixels: decoding, MNIST-style preprocessing, augmentation.

``decode.py`` opens untrusted image files safely (``formats.py`` names a file's format by its first bytes
before anything decodes, ``jpeg.py`` reads a JPEG's scans from its markers);
``ink.py`` turns any image into bright ink on black with the paper removed; ``mnist_style.py`` crops,
fits and centres that ink the way MNIST's digits were prepared.
``affine.py`` writes rotations, shears, scalings and shifts as matrices, ``warp.py`` is the one bilinear
warper (sampling grids and resampling), ``blur.py`` the one Gaussian blur, and ``augment.py`` the random
distortions of training digits built on them.
"""

from digitnet.imaging.augment import AUGMENTATIONS, Augment
from digitnet.imaging.decode import open_image
from digitnet.imaging.ink import load_image, to_ink
from digitnet.imaging.mnist_style import Preprocessed, preprocess, preprocess_file

__all__ = [
    "AUGMENTATIONS",
    "Augment",
    "Preprocessed",
    "load_image",
    "open_image",
    "preprocess",
    "preprocess_file",
    "to_ink",
]
