"""Fingerprints of the weights every preset and every experiment's quick run produces.

A reshaping of the code that must not change behaviour (same seed, same machine: the same weights, bit
for bit) is checked by running this before and after and comparing the two outputs::

    DIGITNET_DATA=../shared/data/mnist python benchmarks/fingerprints.py > before.txt
    # ... change the code ...
    DIGITNET_DATA=../shared/data/mnist python benchmarks/fingerprints.py > after.txt
    diff before.txt after.txt && echo identical

Each preset trains a short version of itself (its first ``--train-size`` images, ``--epochs`` epochs,
everything else as the preset says, workers included). Each experiment runs as ``digitnet experiment
NAME --quick`` does. A line gives the SHA-256 of every weight and buffer array that a ``fit`` produced
(in order), and for experiments also of ``results.json`` without its running times. Floating-point
results depend on the CPU and its BLAS kernel, so compare outputs of one machine only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

from digitnet.data import load_mnist
from digitnet.experiments import EXPERIMENTS, Lab, run_experiment
from digitnet.training.presets import PRESETS
from digitnet.training.runs import train

FITTED: list[str] = []  # SHA-256 of each trained model's state, in the order fit returned


def _record_every_fit() -> None:
    """Wrap the training loop, :func:`digitnet.nn.training.fit`, wherever a module has imported it
    (``Sequential.fit`` and the one training path both call it), to record each trained model's state."""
    import sys

    from digitnet.nn import training

    loop = training.fit

    def recorded(model, *args, **kwargs):
        history = loop(model, *args, **kwargs)
        digest = hashlib.sha256()
        for name, array in sorted(model.named_state().items()):
            digest.update(name.encode())
            digest.update(array.tobytes())
        FITTED.append(digest.hexdigest()[:16])
        return history

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("digitnet") and getattr(module, "fit", None) is loop:
            module.fit = recorded


def _untimed(value):
    """``value`` (parsed JSON) without the running times (keys ending in "seconds"), which vary."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not k.endswith("seconds")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=2_000, help="images each preset trains on")
    parser.add_argument("--epochs", type=int, default=2, help="epochs each preset trains")
    parser.add_argument("--only", nargs="*", help="names of presets or experiments to run (default: all)")
    args = parser.parse_args()
    _record_every_fit()
    wanted = set(args.only) if args.only else None
    for name, (_, config) in PRESETS.items():
        if wanted is not None and name not in wanted:
            continue
        config = config.replace(train_size=args.train_size, epochs=args.epochs)
        data = load_mnist(validation_size=config.validation_size, train_size=config.train_size)
        FITTED.clear()
        result = train(config, data)
        print(
            f"preset {name}: weights {' '.join(FITTED)} test_loss {result.metrics['test_loss']!r}", flush=True
        )
    for name in sorted(EXPERIMENTS):
        if wanted is not None and name not in wanted:
            continue
        FITTED.clear()
        with tempfile.TemporaryDirectory() as folder:
            lab = run_experiment(name, Lab(name, Path(folder), quick=True))
            record = json.loads((lab.out / "results.json").read_text())
        results = hashlib.sha256(json.dumps(_untimed(record), sort_keys=True).encode()).hexdigest()[:16]
        print(f"experiment {name}: weights {' '.join(FITTED) or '-'} results {results}", flush=True)


if __name__ == "__main__":
    main()
