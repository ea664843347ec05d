"""A model's report card: training curves, first-layer neurons, mistakes, probabilities, calibration.

:func:`digitnet.report.build.build_report` writes a self-contained ``index.html`` with PNG figures beside
it and ``report.json`` with the numbers behind every figure; ``digitnet report MODEL`` is its command line.
The package's own names are the light ones (no matplotlib): the calibration maths and the first layer's
neurons. Which neurons and links a page draws is the engine's (:mod:`digitnet.nn.inspect`), shared
with the server.
"""

from digitnet.calibration import (
    calibration_logits,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    softmax_t,
)
from digitnet.report.neurons import analyse_first_layer

__all__ = [
    "analyse_first_layer",
    "calibration_logits",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
    "reliability_bins",
    "softmax_t",
]
