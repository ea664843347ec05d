"""Shared by the experiment tests: run an experiment once in --quick mode on real MNIST."""

import json

import pytest

from digitnet.experiments import Lab, run_experiment


@pytest.fixture(scope="module")
def quick_run(mnist_dir, tmp_path_factory):
    """``quick_run(name) -> (out folder, results dict)``: the experiment ``name`` run in quick mode."""

    def run(name):
        out = tmp_path_factory.mktemp(name)
        run_experiment(name, Lab(name, out, quick=True, data_dir=str(mnist_dir)))
        return out, json.loads((out / "results.json").read_text())["results"]

    return run
