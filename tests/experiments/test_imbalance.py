"""``imbalance`` in quick mode: oversampling and class weights raise the rare digit's recall."""

import json

from digitnet.experiments import Lab, run_experiment
from digitnet.experiments.imbalance import RARE_DIGIT


def test_imbalance_quick(mnist_dir, tmp_path):
    run_experiment("imbalance", Lab("imbalance", tmp_path, quick=True, data_dir=str(mnist_dir)))
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    counts = results["train_counts"]
    assert counts[RARE_DIGIT] < 0.15 * max(counts)
    rare = results["rare_recall"]
    assert rare["oversampling"] > rare["plain"] + 0.1
    assert rare["class-weighted cost"] > rare["plain"] + 0.1
    assert (tmp_path / "imbalance_recall.png").is_file() and "recall" in (
        tmp_path / "summary.txt"
    ).read_text()
