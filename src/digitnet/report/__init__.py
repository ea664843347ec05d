"""A model's report card: training curves, first-layer neurons, mistakes, probabilities, calibration.

:func:`build_report` writes a self-contained ``index.html`` with PNG figures beside it and ``report.json``
with the numbers behind every figure; ``digitnet report MODEL`` is its command line.
"""

from digitnet.report.build import build_report, default_out
from digitnet.report.calibration import (
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
    "build_report",
    "calibration_logits",
    "default_out",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
    "reliability_bins",
    "softmax_t",
]
