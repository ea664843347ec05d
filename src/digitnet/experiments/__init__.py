"""Experiments that check the explainers' claims on your own network: ``digitnet experiment NAME``.

Each module in this package registers one or more experiments with
:func:`digitnet.experiments.lab.experiment`; they are found by importing every module here.
"""

import importlib
import pkgutil

from digitnet.experiments.lab import EXPERIMENTS, Experiment, Lab, experiment, run_experiment

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "lab":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EXPERIMENTS", "Experiment", "Lab", "experiment", "run_experiment"]
