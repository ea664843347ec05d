"""``canon`` in quick mode: every published row is trained and compared with its claim."""

import json

from digitnet.experiments import Lab, run_experiment
from digitnet.experiments.canon import CANON


def test_canon_quick(mnist_dir, tmp_path):
    lab = run_experiment("canon", Lab("canon", tmp_path, quick=True, data_dir=str(mnist_dir)))
    record = json.loads((tmp_path / "results.json").read_text())
    rows = record["results"]["rows"]
    assert [r["network"] for r in rows] == [c.network for c in CANON]
    for row in rows:
        assert 0.5 < row["measured_mean"] <= 1.0  # even two quick epochs on 5,000 images learn
        assert 0.9 < row["claimed"] < 1.0 and row["note"]
    assert (tmp_path / "canon.png").stat().st_size > 10_000
    summary = (tmp_path / "summary.txt").read_text()
    assert "claimed" in summary and "measured" in summary and len(lab.lines) == len(CANON)
