"""``digitnet experiment overfit``: 1,000 training images, many epochs: memorised, not learnt.

Claim (Nielsen, chapter 3). A network with far more parameters than training examples (784-100-10 has
79,510; we train it on 1,000 images) drives its training accuracy to 100% while its validation accuracy
stops improving far below: it memorises the training set. Meanwhile the validation cost rises again,
because the network grows ever more confident, also where it is wrong. Regularisation narrows the gap
between training and validation:

* L2 weight decay adds (λ/2) Σ‖W‖² to the batch-averaged cost, so each step also shrinks every weight
  by the factor (1 - ηλ): small weights make a smoother function that cannot fit every quirk.
  Nielsen writes the penalty as (λ_N / 2n) Σ w² on the cost summed over the n training images; ours is
  on the averaged cost, so λ = λ_N / n. His λ_N = 0.1 with n = 1,000 is our λ = 1e-4;
* dropout sets each hidden unit (rate p) and each input pixel (rate p_in) to zero at random in every
  training step and scales the survivors by 1/(1 - p), so no unit can rely on any other
  (Srivastava et al. 2014 recommend p = 0.5 for hidden units and p_in = 0.2 for inputs).

Method. 784-100-10 with ReLU hidden units (He initialisation), softmax and cross-entropy, plain SGD
(η = 0.1, mini-batches of 10, constant), trained through ``lab.train`` on the first 1,000 images of
the training split and validated on the 10,000 validation images after every epoch, five times from the
same seed: no regularisation; L2 with Nielsen's λ = 1e-4; L2 with λ = 3e-3 (in exploratory runs
Nielsen's value barely changed this network, whose softmax outputs already do better than his sigmoid
ones, and 1e-2 lowered both training and validation accuracy, so 3e-3 lies between); dropout p = 0.5,
p_in = 0.2; and L2 3e-3 with that dropout. A callback scores the 1,000 training images after each
epoch with dropout off, so the training and validation figures are measured the same way.

Reported per run: training and validation accuracy and cost per epoch; the final values (means over
the last tenth of the epochs, to smooth SGD's noise); the best validation accuracy; and the gaps
train - validation in accuracy and validation - train in cost.

Full mode: 300 epochs (300,000 image presentations) per run, five runs, about a minute on two cores.
Quick mode: 40 epochs, scored on 2,000 validation images, a few seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.data import MNIST, Split
from digitnet.experiments.lab import Lab, experiment
from digitnet.nn import Callback
from digitnet.training.config import TrainConfig

__all__ = ["CleanTrainingScores", "VARIANTS", "run"]

TRAIN_IMAGES = 1_000
NIELSEN_L2 = 0.1 / TRAIN_IMAGES  # his λ_N = 0.1 on the summed cost, with n = 1,000
L2 = 3e-3
DROPOUT, INPUT_DROPOUT = 0.5, 0.2
VARIANTS = {  # name: (settings, label, short label for tick marks)
    "none": ({}, "no regularisation", "none"),
    "l2-nielsen": ({"l2": NIELSEN_L2}, f"L2 λ = {NIELSEN_L2:g} (Nielsen's)", f"L2 {NIELSEN_L2:g}\n(Nielsen)"),
    "l2": ({"l2": L2}, f"L2 λ = {L2:g}", f"L2 {L2:g}"),
    "dropout": (
        {"dropout": DROPOUT, "input_dropout": INPUT_DROPOUT},
        f"dropout p = {DROPOUT}, inputs {INPUT_DROPOUT}",
        f"dropout {DROPOUT}\n(inputs {INPUT_DROPOUT})",
    ),
    "both": (
        {"l2": L2, "dropout": DROPOUT, "input_dropout": INPUT_DROPOUT},
        f"L2 {L2:g} + dropout",
        f"L2 {L2:g}\n+ dropout",
    ),
}
COLOURS = {"none": "C3", "l2-nielsen": "C1", "l2": "C0", "dropout": "C2", "both": "C4"}


class CleanTrainingScores(Callback):
    """After each epoch, the cost and accuracy on the training images with dropout off (``evaluate``).

    The history's own training figures are running averages over the epoch's batches with dropout on,
    which understate what the network knows; these are measured the same way as the validation ones.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def on_train_begin(self, epochs, batches_per_epoch):
        self.loss, self.accuracy = [], []

    def on_epoch_end(self, epoch, logs):
        scores = self.model.evaluate(self.x, self.y)
        self.loss.append(scores["loss"])
        self.accuracy.append(scores["accuracy"])


def _config(lab: Lab, variant: str, epochs: int) -> TrainConfig:
    base = TrainConfig(
        hidden=(100,),
        activation="relu",
        cost="cross-entropy",
        optimizer="sgd",
        lr=0.1,
        schedule="constant",
        batch_size=10,
        epochs=epochs,
        l2=0.0,
        seed=lab.seed,
    )
    return base.replace(**VARIANTS[variant][0])


@experiment("overfit", "1,000 training images, many epochs: the train-validation gap, with L2 and dropout")
def run(lab: Lab) -> None:
    full = lab.data
    epochs, n_val = (40, 2_000) if lab.quick else (300, len(full.validation))
    train = Split(full.train.x[:TRAIN_IMAGES], full.train.y[:TRAIN_IMAGES])
    data = MNIST(train, Split(full.validation.x[:n_val], full.validation.y[:n_val]), full.test)

    curves = {}
    for variant in VARIANTS:
        scorer = CleanTrainingScores(train.x, train.y)
        result = lab.train(_config(lab, variant, epochs), data=data, callbacks=[scorer])
        h = result.history
        curves[variant] = {
            "train_accuracy": np.array(scorer.accuracy),
            "train_loss": np.array(scorer.loss),
            "val_accuracy": np.array(h["val_accuracy"]),
            "val_loss": np.array(h["val_loss"]),
            "test_accuracy": result.metrics["test_accuracy"],
        }
    lab.figure("curves", _curves_figure(curves, n_val))
    lab.figure("final_gaps", _bars_figure(curves))
    _report(lab, curves, epochs, n_val)


def _final(curves, tail):
    """The means over the last ``tail`` epochs, the best validation accuracy, and the gaps."""
    c = {k: float(np.mean(v[-tail:])) for k, v in curves.items() if isinstance(v, np.ndarray)}
    return {
        "train_accuracy": c["train_accuracy"],
        "val_accuracy": c["val_accuracy"],
        "train_loss": c["train_loss"],
        "val_loss": c["val_loss"],
        "accuracy_gap": c["train_accuracy"] - c["val_accuracy"],
        "cost_gap": c["val_loss"] - c["train_loss"],
        "best_val_accuracy": float(curves["val_accuracy"].max()),
        "best_epoch": int(curves["val_accuracy"].argmax()) + 1,
        "min_val_loss": float(curves["val_loss"].min()),
        "test_accuracy": curves["test_accuracy"],
    }


def _report(lab, curves, epochs, n_val):
    tail = max(1, epochs // 10)
    finals = {v: _final(curves[v], tail) for v in VARIANTS}
    arrays = {v: {k: c for k, c in curves[v].items() if isinstance(c, np.ndarray)} for v in VARIANTS}
    lab.record(
        architecture="784-100-10",
        train_images=TRAIN_IMAGES,
        val_images=n_val,
        epochs=epochs,
        final_over_last_epochs=tail,
        l2=L2,
        l2_nielsen=NIELSEN_L2,
        dropout=DROPOUT,
        input_dropout=INPUT_DROPOUT,
        final=finals,
        curves=arrays,
    )
    lab.say(
        "Claim: trained long on 1,000 images, a 784-100-10 network reaches 100% training accuracy while "
        "validation stays far lower (overfitting); L2 and dropout narrow the gap."
    )
    lab.say(
        f"ReLU, cross-entropy, SGD η = 0.1, batches of 10, {epochs} epochs on {TRAIN_IMAGES:,} images, "
        f"validated on {n_val:,}; final = mean of the last {tail} epochs; one seed."
    )
    for v, (_, label, _) in VARIANTS.items():
        f = finals[v]
        lab.say(
            f"  {label:28s} train {f['train_accuracy']:.2%}  validation {f['val_accuracy']:.2%} "
            f"(best {f['best_val_accuracy']:.2%}, epoch {f['best_epoch']})  gap {f['accuracy_gap']:.2%}; "
            f"cost: train {f['train_loss']:.3f}, validation {f['val_loss']:.3f}"
        )
    plain = finals["none"]
    regularised = [finals[v] for v in ("l2", "dropout", "both")]
    acc_gap = min(f["accuracy_gap"] for f in regularised)
    cost_gap = min(f["cost_gap"] for f in regularised)
    lab.say(
        f"Unregularised: training accuracy {plain['train_accuracy']:.2%}, gap {plain['accuracy_gap']:.2%}; "
        f"its validation cost fell to {plain['min_val_loss']:.3f}, then rose to {plain['val_loss']:.3f}."
    )
    verdict = {True: "narrowed", False: "did NOT narrow"}
    lab.say(
        f"Regularisation {verdict[plain['accuracy_gap'] > acc_gap]} the accuracy gap (smallest "
        f"{acc_gap:.2%}) and {verdict[plain['cost_gap'] > cost_gap]} the cost gap "
        f"({plain['cost_gap']:.3f} -> {cost_gap:.3f})."
    )


def _curves_figure(curves, n_val):
    from digitnet.plots import new_figure

    fig, axes = new_figure(18, 7, nrows=2, ncols=len(VARIANTS), sharex=True, sharey="row")
    for col, (variant, (_, label, _)) in enumerate(VARIANTS.items()):
        c = curves[variant]
        epochs = np.arange(1, len(c["val_accuracy"]) + 1)
        top, bottom = axes[0, col], axes[1, col]
        top.plot(epochs, c["train_accuracy"] * 100, color=COLOURS[variant], ls="--", label="training (1,000)")
        top.plot(epochs, c["val_accuracy"] * 100, color=COLOURS[variant], label=f"validation ({n_val:,})")
        top.fill_between(
            epochs, c["val_accuracy"] * 100, c["train_accuracy"] * 100, color=COLOURS[variant], alpha=0.12
        )
        top.set_title(label)
        top.set_ylim(80, 100.5)
        bottom.plot(epochs, c["train_loss"], color=COLOURS[variant], ls="--", label="training")
        bottom.plot(epochs, c["val_loss"], color=COLOURS[variant], label="validation")
        bottom.set_yscale("log")
        bottom.set_xlabel("epoch (1,000 images each)")
        top.legend(loc="lower right", fontsize=8)
    axes[0, 0].set_ylabel("accuracy (%, dropout off; axis from 80)")
    axes[1, 0].set_ylabel("cross-entropy cost (log)")
    fig.suptitle(
        "Overfitting 1,000 training images with 784-100-10 (ReLU, SGD η = 0.1): training (dashed) "
        "vs validation (solid); the shaded band is the gap"
    )
    return fig


def _bars_figure(curves):
    from digitnet.plots import new_figure

    tail = max(1, len(curves["none"]["val_accuracy"]) // 10)
    finals = {v: _final(curves[v], tail) for v in VARIANTS}
    labels = [VARIANTS[v][2] for v in VARIANTS]
    x = np.arange(len(VARIANTS))
    colours = [COLOURS[v] for v in VARIANTS]
    fig, axes = new_figure(15, 4.6, ncols=3)
    panels = (
        ("val_accuracy", 100, "final validation accuracy (%)"),
        ("accuracy_gap", 100, "accuracy gap: training − validation (points)"),
        ("cost_gap", 1, "cost gap: validation − training cost"),
    )
    for ax, (key, scale, title) in zip(axes, panels):
        values = [finals[v][key] * scale for v in VARIANTS]
        ax.bar(x, values, color=colours)
        for xi, value in zip(x, values):
            ax.text(
                xi,
                value,
                f"{value:.2f}" if scale == 1 else f"{value:.1f}",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(x, labels, fontsize=9)
        ax.set_title(title)
        if key == "val_accuracy":
            ax.set_ylim(min(values) - 3, max(values) + 1.5)
    axes[0].set_ylabel(f"mean over the last {tail} epochs")
    fig.suptitle(
        "After training on 1,000 images: validation accuracy and train-validation gaps per regulariser"
    )
    return fig
