"""Looking inside a model: which layer is which, and the neurons and links a page draws for one digit.

The report (:mod:`digitnet.report`) and the server (:mod:`digitnet.serve`) both draw networks; what
they draw is decided here, in the engine, so neither imports the other.
"""

from digitnet.nn.inspect.architecture import architecture_text
from digitnet.nn.inspect.drawn import LINKS, SHOWN, Link, drawn_network
from digitnet.nn.inspect.layers import (
    PIXELS,
    first_convolution,
    first_hidden_layer,
    first_layer_images,
    reads_flat_pixels,
)

__all__ = [
    "LINKS",
    "PIXELS",
    "SHOWN",
    "Link",
    "architecture_text",
    "drawn_network",
    "first_convolution",
    "first_hidden_layer",
    "first_layer_images",
    "reads_flat_pixels",
]
