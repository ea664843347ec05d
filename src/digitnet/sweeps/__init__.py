"""Sweeps: many trainings (settings times seeds) on this machine's cores or on a Dask cluster.

:mod:`~digitnet.sweeps.spec` says what to train (:mod:`~digitnet.sweeps.sweep_file` reads it from a
file), :mod:`~digitnet.sweeps.task` is one training as a worker runs it,
:mod:`~digitnet.sweeps.backends` where the runs go, :mod:`~digitnet.sweeps.runner` keeps the sweep
folder (nothing lost, nothing redone) and :mod:`~digitnet.sweeps.results` turns the runs into a table,
the best configuration and a figure.
"""

from digitnet.sweeps.backends import SCHEDULER_VARIABLE, DaskCluster, LocalProcesses, available_cores
from digitnet.sweeps.runner import SweepOutcome, run_sweep
from digitnet.sweeps.spec import Run, SweepSpec
from digitnet.sweeps.sweep_file import spec_from_mapping

__all__ = [
    "SCHEDULER_VARIABLE",
    "DaskCluster",
    "LocalProcesses",
    "Run",
    "SweepOutcome",
    "SweepSpec",
    "available_cores",
    "run_sweep",
    "spec_from_mapping",
]
