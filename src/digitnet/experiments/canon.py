"""``canon``: the published numbers, re-run over several seeds.

Each row is a network and recipe from a public source with the test accuracy it claims, trained here
through ``digitnet train``'s own path (:func:`digitnet.training.runs.train`) with every seed in turn; the
table gives the claim beside the mean and standard deviation measured on the 10,000 test digits.

Where the source leaves a choice open, the choice is written in the row's ``note``. Nielsen reports the
best test accuracy seen over the epochs; we report the final epoch's, which is never higher. LeCun's
table rows come from papers that trained for many more epochs with hand-tuned schedules; ours use one
fixed, documented recipe each. Full run: 15 to 50 minutes on two cores, depending on what else runs;
``--quick``: seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.experiments.lab import Lab, experiment
from digitnet.plots import new_figure
from digitnet.sweeps.spec import SweepSpec, run_key
from digitnet.training.config import TrainConfig
from digitnet.training.presets import get_preset

__all__ = ["CANON", "Claim"]


@dataclass(frozen=True)
class Claim:
    source: str
    network: str
    claimed: float  # test accuracy the source reports
    config: TrainConfig
    note: str
    validation: bool = True  # train on 50,000 (True) or all 60,000 images


NIELSEN_NETWORK_PY = dict(
    activation="sigmoid",
    cost="quadratic",
    optimizer="sgd",
    lr=3.0,
    schedule="constant",
    batch_size=10,
    epochs=30,
    init="standard-normal",
)

LECUN_MEAN_SQUARE_ERROR = dict(  # our recipe for the mean-square-error rows of LeCun's table
    activation="tanh",
    cost="quadratic",
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    schedule="cosine",
    batch_size=32,
    epochs=20,
    validation_size=0,
)

CANON = [
    Claim(
        "3Blue1Brown, 'But what is a neural network?'",
        "784-16-16-10",
        0.96,
        get_preset("seeds"),
        "digitnet's `seeds` preset: sigmoid, quadratic cost, SGD batch 10, L2 5e-5, step 3 decaying to 0",
        validation=False,
    ),
    Claim(
        "Nielsen, network.py (ch. 1)",
        "784-30-10",
        0.9542,
        TrainConfig(hidden=(30,), **NIELSEN_NETWORK_PY),
        "sigmoid, quadratic, N(0,1) weights, eta 3.0, batch 10, 30 epochs, 50,000 images",
    ),
    Claim(
        "Nielsen, network.py (ch. 1)",
        "784-100-10",
        0.9659,
        TrainConfig(hidden=(100,), **NIELSEN_NETWORK_PY),
        "as above with 100 hidden neurons",
    ),
    Claim(
        "Nielsen, network2.py (ch. 3)",
        "784-100-10",
        0.9804,
        TrainConfig(
            hidden=(100,),
            activation="sigmoid",
            cost="cross-entropy",
            optimizer="sgd",
            lr=0.5,
            schedule="constant",
            batch_size=10,
            epochs=60,
            l2=1e-4,
            init="lecun",
        ),
        "sigmoid hidden, cross-entropy (softmax here, sigmoid outputs in network2.py), eta 0.5, batch 10, "
        "lambda 5.0 over n = 50,000 (our l2 1e-4), N(0,1/n_in) weights, 60 epochs",
    ),
    Claim(
        "LeCun et al. 1998, table: 2-layer NN, 300 hidden units, mean square error",
        "784-300-10",
        0.953,
        TrainConfig(hidden=(300,), **LECUN_MEAN_SQUARE_ERROR),
        "tanh hidden, sigmoid outputs, quadratic cost, SGD momentum 0.9, eta 0.1 cosine, batch 32, 20 epochs",
        validation=False,
    ),
    Claim(
        "LeCun et al. 1998, table: 3-layer NN, 500+150 hidden units, mean square error",
        "784-500-150-10",
        0.9705,
        TrainConfig(hidden=(500, 150), **LECUN_MEAN_SQUARE_ERROR),
        "as the 300-unit row, two hidden layers",
        validation=False,
    ),
    Claim(
        "Simard et al. 2003 (LeCun's table): 2-layer NN, 800 hidden units, cross-entropy",
        "784-800-10",
        0.984,
        TrainConfig(
            hidden=(800,),
            activation="relu",
            cost="cross-entropy",
            optimizer="sgd",
            lr=0.05,
            momentum=0.9,
            schedule="cosine",
            batch_size=64,
            epochs=20,
            l2=1e-4,
            validation_size=0,
        ),
        "ReLU hidden (Simard used sigmoid), softmax cross-entropy, SGD momentum 0.9, eta 0.05 cosine, "
        "L2 1e-4, batch 64, 20 epochs, no distortions",
        validation=False,
    ),
]
"""The published claims, in the order of the table."""


def _quick(config: TrainConfig) -> TrainConfig:
    return config.replace(epochs=min(config.epochs, 2), train_size=5000, validation_size=10_000)


@experiment("canon", "the published accuracies (3Blue1Brown, Nielsen, LeCun) re-run over several seeds")
def run(lab: Lab) -> None:
    seeds = [lab.seed] if lab.quick else [lab.seed + i for i in range(3)]
    configs = [_quick(claim.config) if lab.quick else claim.config for claim in CANON]
    # Every (claim, seed) training at once, on this machine's cores or the lab's cluster (lab.sweep).
    # A row's validation_size says its data: 0 trains on all 60,000 images, as its source did.
    spec = SweepSpec(points=tuple(_settings(c) for c in configs), seeds=tuple(seeds))
    records = lab.sweep(spec).records
    rows = []
    for claim, config in zip(CANON, configs):
        metrics = [records[run_key(config.replace(seed=seed))]["metrics"] for seed in seeds]
        accuracies = [m["test_accuracy"] for m in metrics]
        mean, std = float(np.mean(accuracies)), float(np.std(accuracies))
        rows.append(
            {
                "source": claim.source,
                "network": claim.network,
                "claimed": claim.claimed,
                "measured_mean": mean,
                "measured_std": std,
                "runs": accuracies,
                "seeds": seeds,
                "train_seconds": float(np.mean([m["train_seconds"] for m in metrics])),
                "note": claim.note,
                "config": config.to_dict(),
            }
        )
        lab.say(
            f"{claim.network:>15}  claimed {100 * claim.claimed:6.2f}%  measured {100 * mean:6.2f}% "
            f"± {100 * std:.2f} ({len(seeds)} seed{'s' * (len(seeds) > 1)})  {claim.source}"
        )
    lab.record(rows=rows)
    lab.figure("canon", _figure(rows))


def _settings(config: TrainConfig) -> dict:
    """Every setting of ``config`` but its seed: one listed configuration of the canon's sweep."""
    return {k: v for k, v in config.to_dict().items() if k != "seed"}


def _figure(rows):
    fig, ax = new_figure(8.0, 0.55 * len(rows) + 1.5)
    labels = [f"{r['network']}\n{_short(r['source'])}" for r in rows]
    positions = np.arange(len(rows))[::-1]
    claimed = [100 * r["claimed"] for r in rows]
    measured = [100 * r["measured_mean"] for r in rows]
    errors = [100 * r["measured_std"] for r in rows]
    ax.barh(positions + 0.2, claimed, height=0.38, color="#bbbbbb", label="claimed")
    ax.barh(
        positions - 0.2, measured, height=0.38, xerr=errors, color="#2c7fb8", label="measured (mean ± sd)"
    )
    ax.set_yticks(positions, labels, fontsize=8)
    for y, value, error in zip(positions, measured, errors):
        ax.text(
            value + error + 0.1, y - 0.2, f"{value:.2f}", va="center", fontsize=7
        )  # right of the error bar
    for y, value in zip(positions, claimed):
        ax.text(value + 0.1, y + 0.2, f"{value:.2f}", va="center", fontsize=7, color="#555555")
    low = min(claimed + measured)
    ax.set_xlim(max(0.0, low - 3), 100)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Published MNIST accuracies, claimed vs measured by digitnet")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    return fig


def _short(source: str) -> str:
    """'Nielsen, network.py (ch. 1)' -> 'Nielsen network.py';
    'LeCun et al. 1998, table: ...' -> 'LeCun et al. 1998'.
    """
    head = source.split(":")[0].replace(" (LeCun's table)", "")
    parts = [p.strip() for p in head.split(",")]
    if parts[0] == "Nielsen":
        return "Nielsen " + parts[1].split(" (")[0]
    return parts[0].split(" table")[0]
