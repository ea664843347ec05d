"""``digitnet experiment lr-sweep``: too small a learning rate crawls, too large one overshoots or diverges.

Claim. Gradient descent moves the weights by -η ∇C. For a cost that is locally quadratic with
curvature λ along some direction, the error along it is multiplied by (1 - ηλ) at each step: for
η ≪ 1/λ that factor is close to 1 and learning crawls; for η > 2/λ its size exceeds 1 and the error
grows at every step: the descent overshoots the valley and diverges. Between the two lies a range of
good learning rates, narrow compared with the orders of magnitude one might try.

Method. The same seed, the same data order, plain SGD (mini-batches of 10, constant η, no
regularisation) at η = 0.001, 0.01, 0.1, 1 and 10, for three 784-30-10 networks trained through
``lab.train``. They fail differently when η is too large:

* sigmoid hidden units, softmax outputs and the cross-entropy cost (Nielsen's network with softmax):
  sigmoid outputs are bounded, so are the gradients; a too-large η makes the loss jump up and learning
  stall near chance, but every number stays finite;
* ReLU hidden units (He initialisation), softmax and cross-entropy: a large step pushes hidden units to
  negative weighted inputs for every image, where ReLU's gradient is 0, so they never recover ("dead"
  units; the share of dead units is measured on 1,000 validation images). Whether a ReLU network at a
  too-large η dies or overflows depends on the seed and the data order;
* sigmoid hidden units, linear outputs and the quadratic cost ½‖z - y‖²: least squares, whose gradient
  grows with the error, so above η ≈ 2/λ the error grows geometrically until it overflows. The training
  loop then raises :class:`digitnet.errors.NonFiniteError` naming the epoch and batch; the experiment
  catches it, records "diverged at epoch e, batch b" and draws the curve up to there with a marker.

Measured: the training loss of every mini-batch (drawn as means over log-spaced ranges of batches), the
validation accuracy after each epoch, the final validation accuracy per η and the best η per network.

Full mode: 2 epochs on the 50,000 training images per run (10,000 batches), fifteen runs, 20 s to a
minute on two cores. Quick mode: 1 epoch on the first 2,000 images, a few seconds.
"""

from __future__ import annotations

import math

import numpy as np

from digitnet.data import MNIST, Split
from digitnet.errors import NonFiniteError
from digitnet.experiments.lab import Lab, experiment, nielsen_sgd
from digitnet.nn import Callback

__all__ = ["BatchLosses", "dead_share", "log_bins", "run"]

ETAS = (0.001, 0.01, 0.1, 1.0, 10.0)
NETWORKS = {  # name: the settings that differ, and a title
    "sigmoid": ({"activation": "sigmoid", "cost": "cross-entropy"}, "sigmoid + softmax, cross-entropy"),
    "relu": ({"activation": "relu", "cost": "cross-entropy"}, "ReLU + softmax, cross-entropy"),
    "least-squares": (
        {"activation": "sigmoid", "cost": "quadratic", "output_activation": "identity"},
        "sigmoid + linear outputs, quadratic cost",
    ),
}
CHANCE_LOSS = math.log(10)  # cross-entropy of the uniform guess over 10 classes


class BatchLosses(Callback):
    """The training loss of every mini-batch, in order; kept when training stops with an error."""

    def on_train_begin(self, epochs, batches_per_epoch):
        self.losses = []

    def on_batch_end(self, epoch, batch, loss):
        self.losses.append(loss)


def dead_share(model, x: np.ndarray) -> float:
    """Share of first-layer hidden units whose weighted input is <= 0 for every image in ``x``.

    For a ReLU unit that means output 0 and gradient 0 on all of them: it no longer learns.
    Shape: x (N, 784) -> a number in [0, 1].
    """
    z = model.layer_outputs(x, upto=1)[0]  # (N, U)
    return float(np.mean((z <= 0).all(axis=0)))


def log_bins(losses: list[float], bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss over batch ranges whose widths grow geometrically: detail early, smoothing late.

    Returns each range's centre (geometric mean of its first and last batch number, counted from 1) and
    its mean loss. Shape: losses (T,) -> centres (B,), means (B,), B <= ``bins``.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if not len(losses):
        return np.zeros(0), np.zeros(0)
    edges = np.unique(np.geomspace(1, len(losses) + 1, bins + 1).astype(int))  # batch numbers, from 1
    edges[-1] = len(losses) + 1
    first, stop = edges[:-1], edges[1:]  # range i covers batches first[i] .. stop[i] - 1
    means = np.array([losses[a - 1 : b - 1].mean() for a, b in zip(first, stop)])
    return np.sqrt(first * (stop - 1)), means


@experiment("lr-sweep", "learning rates over four orders of magnitude: crawl, good, overshoot, divergence")
def run(lab: Lab) -> None:
    data = lab.data
    if lab.quick:
        n, v = 2_000, 1_000
        train = Split(data.train.x[:n], data.train.y[:n])
        data = MNIST(train, Split(data.validation.x[:v], data.validation.y[:v]), data.test)
    epochs, window = (
        (1, 20) if lab.quick else (2, 500)
    )  # the summary's final loss: mean over the last `window`

    runs = {}
    for network in NETWORKS:
        for lr in ETAS:
            recorder = BatchLosses()
            entry = {"diverged": None, "final_val_accuracy": None, "val_accuracy": [], "dead_units": None}
            try:
                result = lab.train(
                    nielsen_sgd(lab.seed, lr, epochs, **NETWORKS[network][0]), data=data, callbacks=[recorder]
                )
            except NonFiniteError as error:
                entry["diverged"] = {"epoch": error.epoch, "batch": error.batch, "what": error.what}
            else:
                entry["final_val_accuracy"] = result.metrics["val_accuracy"]
                entry["val_accuracy"] = result.history["val_accuracy"]
                entry["dead_units"] = dead_share(result.model, data.validation.x[:1_000])
            entry["losses"] = recorder.losses
            runs[network, lr] = entry

    batches_per_epoch = math.ceil(len(data.train) / 10)
    lab.figure("loss_curves", _loss_figure(runs, batches_per_epoch))
    lab.figure("final_accuracy", _accuracy_figure(runs))
    _report(lab, runs, data, epochs, window)


def _best(runs, network):
    scored = [
        (e["final_val_accuracy"], lr) for (n, lr), e in runs.items() if n == network and not e["diverged"]
    ]
    return max(scored)[1] if scored else None


def _report(lab, runs, data, epochs, window):
    record = {}
    for network, (settings, title) in NETWORKS.items():
        per_eta = {}
        for lr in ETAS:
            e = runs[network, lr]
            centres, means = log_bins(e["losses"])
            per_eta[f"{lr:g}"] = {
                "final_val_accuracy": e["final_val_accuracy"],
                "val_accuracy": e["val_accuracy"],
                "diverged": e["diverged"],
                "dead_units": e["dead_units"],
                "batches_trained": len(e["losses"]),
                "binned_batch": centres,
                "binned_mean_loss": means,
            }
        record[network] = {
            "title": title,
            "settings": settings,
            "runs": per_eta,
            "best_lr": _best(runs, network),
        }
    lab.record(
        architecture="784-30-10",
        etas=ETAS,
        epochs=epochs,
        train_images=len(data.train),
        batch_size=10,
        window=window,
        networks=record,
    )

    lab.say(
        "Claim: a too-small learning rate crawls, a too-large one overshoots (the loss jumps up, learning "
        "stalls or units die) or diverges (the weights blow up to infinity); the good range is narrow."
    )
    lab.say(
        f"784-30-10, SGD, batches of 10, {epochs} epoch(s) on {len(data.train):,} images, same seed, "
        f"η in {list(ETAS)}; loss = each network's own cost."
    )
    for network, (_, title) in NETWORKS.items():
        lab.say(f"{title}:")
        for lr in ETAS:
            e = runs[network, lr]
            if e["diverged"]:
                d = e["diverged"]
                lab.say(
                    f"  η = {lr:<6g} diverged at epoch {d['epoch']} batch {d['batch']} "
                    f"(non-finite {d['what']}) after {len(e['losses'])} finite batches"
                )
                continue
            last = float(np.mean(e["losses"][-window:]))
            relu = NETWORKS[network][0]["activation"] == "relu"
            dead = f", dead hidden units {e['dead_units']:.0%}" if relu else ""
            lab.say(
                f"  η = {lr:<6g} validation accuracy {e['final_val_accuracy']:.2%}, training loss over "
                f"the last {window} batches {last:.3g}{dead}"
            )
        lab.say(f"  best η: {record[network]['best_lr']}")


def _baseline(network: str) -> tuple[float, str]:
    """The cost of a network that has learnt nothing but the class frequencies, and its label."""
    if NETWORKS[network][0]["cost"] == "cross-entropy":
        return CHANCE_LOSS, "uniform guess: ln 10"
    return 0.45, "constant output 0.1: ½(0.9² + 9·0.1²)"  # the best constant z for one-hot targets


def _loss_figure(runs, batches_per_epoch):
    from digitnet.plots import new_figure, plt

    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(ETAS)))
    fig, axes = new_figure(16, 4.8, ncols=3, sharey=True)
    top = 1e3  # losses above this are drawn at the top edge; the marker says where the curve went
    for ax, (network, (_, title)) in zip(axes, NETWORKS.items()):
        for lr, colour in zip(ETAS, colours):
            e = runs[network, lr]
            centres, means = log_bins(e["losses"])
            ax.plot(centres, np.minimum(means, top), color=colour, lw=1.6, label=f"η = {lr:g}")
            if e["diverged"]:
                d = e["diverged"]
                x = (d["epoch"] - 1) * batches_per_epoch + d["batch"]
                ax.plot([x], [top], marker="X", ms=12, color=colour, mec="k", ls="none")
                text = (
                    f"η = {lr:g}: loss became NaN/inf (diverged)\nat epoch {d['epoch']}, batch {d['batch']}"
                )
                ax.annotate(
                    text,
                    xy=(x, top),
                    xytext=(0.3, 0.72),
                    textcoords="axes fraction",
                    fontsize=8,
                    arrowprops={"arrowstyle": "->", "color": "0.4"},
                )
        level, label = _baseline(network)
        ax.axhline(level, color="0.5", ls=":", lw=1.2, label=f"untrained level ({label})")
        cost = NETWORKS[network][0]["cost"]
        ax.set(
            title=f"784-30-10, {title}",
            xscale="log",
            yscale="log",
            xlabel=f"mini-batch (10 images each, {batches_per_epoch:,} per epoch; log scale)",
        )
        ax.text(0.01, 0.01, f"loss: {cost}", transform=ax.transAxes, fontsize=8, color="0.4")
    axes[0].set_ylabel("training loss (log; mean over log-spaced\nranges of batches, capped at 10³)")
    axes[0].set_ylim(top=top * 2)
    axes[0].legend(loc="upper right", fontsize=8)
    for ax in axes[1:]:
        ax.legend(handles=ax.get_lines()[-1:], loc="center right", fontsize=8)
    fig.suptitle(
        "Learning-rate sweep with plain SGD on MNIST: too small crawls, too large overshoots, "
        "kills units or diverges"
    )
    return fig


def _accuracy_figure(runs):
    from digitnet.plots import new_figure

    fig, ax = new_figure(6.4, 4.2)
    for (network, (_, name)), colour in zip(NETWORKS.items(), ("C3", "C0", "C2")):
        ok = [
            (lr, runs[network, lr]["final_val_accuracy"]) for lr in ETAS if not runs[network, lr]["diverged"]
        ]
        bad = [lr for lr in ETAS if runs[network, lr]["diverged"]]
        if ok:
            ax.plot(*zip(*[(lr, acc * 100) for lr, acc in ok]), "o-", color=colour, label=name)
        if bad:
            ax.plot(
                bad, [0] * len(bad), "X", ms=11, color=colour, mec="k", ls="none", label=f"{name}: diverged"
            )
    ax.axhline(10, color="0.5", ls=":", lw=1)
    ax.text(1.1e-3, 11, "chance (10%)", fontsize=8, color="0.4")
    ax.set(
        xscale="log",
        ylim=(-4, 100),
        xlabel="learning rate η (log scale)",
        ylabel="final validation accuracy (%)",
        title="784-30-10: final validation accuracy per learning rate",
    )
    ax.legend(fontsize=8, loc="center left")
    return fig
