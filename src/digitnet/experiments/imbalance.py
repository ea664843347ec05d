"""``imbalance``: a class cut to 10% of its training images, and two cures.

Claim: a network trained on data where one digit is rare learns to under-predict it, and rebalancing
helps. We keep every training image of nine digits and only 10% of one (the rare digit, 5 by default:
one of the harder ones), then train the same network three ways through the one training path:

* plain: every image once per epoch;
* oversampling (``TrainConfig(oversample=True)``): each epoch draws the rare digit's images again, at
  random, until it is as frequent as the commonest digit;
* class-weighted cost (``TrainConfig(class_weighted=True)``): each image's cost is weighted by
  w_c = N / (C · n_c), so the rare digit's few images count as much in total as any other digit's.

Per-class recall (the share of each digit's test images recognised) shows the effect; the rare digit's
recall is the headline. Full run: about a minute on two cores; ``--quick``: a few seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.data import MNIST, Split
from digitnet.experiments.lab import Lab, experiment
from digitnet.metrics import classification_report
from digitnet.plots import new_figure
from digitnet.training.config import TrainConfig

RARE_DIGIT = 5
KEEP = 0.10  # share of the rare digit's training images kept

METHODS = {"plain": {}, "oversampling": {"oversample": True}, "class-weighted cost": {"class_weighted": True}}


def cut_class(data: MNIST, digit: int, keep: float, rng: np.random.Generator) -> MNIST:
    """``data`` with only a random ``keep`` share of ``digit``'s training images
    (validation, test unchanged).
    """
    y = data.train.y
    rare = np.flatnonzero(y == digit)
    kept = rng.choice(rare, max(1, round(keep * len(rare))), replace=False)
    index = np.sort(np.concatenate([np.flatnonzero(y != digit), kept]))
    return MNIST(Split(data.train.x[index], y[index]), data.validation, data.test)


@experiment(
    "imbalance", "one digit cut to 10% of its images: recall with plain training, oversampling, class weights"
)
def run(lab: Lab) -> None:
    data = lab.data
    if lab.quick:
        data = MNIST(Split(data.train.x[:10_000], data.train.y[:10_000]), data.validation, data.test)
    data = cut_class(data, RARE_DIGIT, KEEP, lab.rng(1))
    counts = np.bincount(data.train.y, minlength=10)
    base = TrainConfig(hidden=(64,) if lab.quick else (100,), epochs=2 if lab.quick else 10, seed=lab.seed)
    recalls, accuracies = {}, {}
    for method, options in METHODS.items():
        result = lab.train(base.replace(**options), data=data)
        report = classification_report(data.test.y, result.model.predict(data.test.x))
        recalls[method] = [c["recall"] for c in report["per_class"]]
        accuracies[method] = report["accuracy"]
        lab.say(
            f"{method:>20}: recall of the rare digit {RARE_DIGIT}: "
            f"{100 * recalls[method][RARE_DIGIT]:5.1f}%, test accuracy {100 * report['accuracy']:.2f}%"
        )
    lab.say(
        f"(digit {RARE_DIGIT} kept {counts[RARE_DIGIT]} of its training images; "
        f"the others about {int(np.median(counts))})"
    )
    lab.record(
        rare_digit=RARE_DIGIT,
        keep=KEEP,
        train_counts=counts,
        recall=recalls,
        accuracy=accuracies,
        rare_recall={m: r[RARE_DIGIT] for m, r in recalls.items()},
        config=base.to_dict(),
    )
    lab.figure("imbalance_recall", _figure(recalls, counts))


def _figure(recalls, counts):
    fig, ax = new_figure(9.0, 4.2)
    width = 0.8 / len(recalls)
    digits = np.arange(10)
    colours = ["#999999", "#2c7fb8", "#d95f0e"]
    for i, (method, recall) in enumerate(recalls.items()):
        ax.bar(digits + (i - 1) * width, 100 * np.array(recall), width, label=method, color=colours[i])
    low = min(min(r) for r in recalls.values())
    ax.set_ylim(max(0, 100 * low - 10), 100.5)
    ax.set_xticks(digits, [f"{d}\n{counts[d]:,}" for d in digits], fontsize=9)
    ax.set_xlabel("digit, and its number of training images after the cut")
    ax.set_ylabel("recall on the test digits (%)")
    ax.set_title(f"Digit {RARE_DIGIT} cut to {KEEP:.0%} of its training images: per-digit recall")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    return fig
