"""``digitnet experiment cost-lab``: quadratic vs cross-entropy cost, sigmoid vs ReLU, on the same seed.

Claim (Nielsen, chapter 3). With the quadratic cost C = ½‖a - y‖² on a sigmoid output, the error of
output unit j is

    δᴸⱼ = (aⱼ - yⱼ) σ'(zᴸⱼ),      σ'(z) = σ(z)(1 - σ(z)) ≤ 1/4,

so a unit that is saturated (|z| large, σ' ≈ 0) learns slowly however wrong it is: the "learning
slowdown". Cross-entropy with softmax outputs has δᴸ = p - y, with no σ' factor, and learns fastest
exactly when it is most wrong. Hidden sigmoid units still carry σ'(zˡ) in δˡ = (Wˡ⁺¹δˡ⁺¹) ⊙ σ'(zˡ),
and training pushes many of them into saturation; ReLU's derivative is 1 for every active unit.

Method. The four combinations {sigmoid, ReLU} × {quadratic, cross-entropy} of the network 784-30-10
(Nielsen's chapter 1 and 3 network) with the same seed, hence the same initial hidden weights for the
two costs (LeCun init for sigmoid, He for ReLU). Quadratic-cost networks end in sigmoid output units,
cross-entropy ones in softmax. All use plain SGD, mini-batches of 10, a constant learning rate, no
regularisation, trained through ``lab.train``.

Choosing η honestly. The costs' gradients differ in scale (the quadratic's carries σ' ≤ 1/4), so one η
for all four would favour some. Each combination gets the best η of the grid {0.1, 0.5, 1, 3} (it holds
Nielsen's η = 3.0 for the quadratic cost and 0.5 for cross-entropy) by validation accuracy after a
one-epoch pilot on the first 10,000 training images. Selection uses validation data only; the test
accuracy is reported once, at the end.

Measured: validation accuracy and training cost per epoch; early learning as the accuracy on 1,000
validation images at log-spaced mini-batches; and the distribution of σ'(z) over the hidden units of the
two sigmoid networks (and the output units of the quadratic one) for 1,000 test images, at
initialisation and after training. A figure also draws the slowdown's formula for one sigmoid neuron
with target 0: ∂C/∂z = a·σ'(z) (quadratic) against a (cross-entropy).

Full mode: 6 epochs on 50,000 images per combination, 20 s to a minute on two cores.
Quick mode: 2 epochs on 2,000 images, a pilot on 1,000, a few seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.data import MNIST, Split
from digitnet.experiments.lab import Lab, experiment, nielsen_sgd
from digitnet.nn import Callback
from digitnet.nn.activations import sigmoid
from digitnet.training.runs import build_model

__all__ = ["ProbeAccuracy", "run", "sigmoid_slopes"]

COMBOS = (
    ("sigmoid", "quadratic"),
    ("sigmoid", "cross-entropy"),
    ("relu", "quadratic"),
    ("relu", "cross-entropy"),
)
ETA_GRID = (0.1, 0.5, 1.0, 3.0)
NIELSEN_ETA = {"quadratic": 3.0, "cross-entropy": 0.5}  # network.py (chapter 1) and network2.py (chapter 3)
SATURATED = 0.025  # σ'(z) below a tenth of its maximum 1/4, i.e. |z| > 3.6: a "saturated" unit
PROBE = 1_000  # validation images scored at log-spaced batches for the early-learning curve


class ProbeAccuracy(Callback):
    """Accuracy on a fixed probe set after log-spaced mini-batches (1, 2, 3, 5, ..., the last one).

    Attributes: ``batches`` (running batch numbers, from 1) and ``accuracy`` (the probe accuracy after each).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, points: int = 120):
        self.x, self.y, self.points = x, y, points

    def on_train_begin(self, epochs, batches_per_epoch):
        self.per_epoch = batches_per_epoch
        total = epochs * batches_per_epoch
        self.when = set(np.unique(np.geomspace(1, total, self.points).astype(int)).tolist())
        self.batches, self.accuracy = [0], [self.model.evaluate(self.x, self.y)["accuracy"]]

    def on_batch_end(self, epoch, batch, loss):
        step = (epoch - 1) * self.per_epoch + batch
        if step in self.when:
            self.batches.append(step)
            self.accuracy.append(self.model.evaluate(self.x, self.y)["accuracy"])


def sigmoid_slopes(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """σ'(z) = σ(z)(1 - σ(z)) of the first hidden layer's units, and of the output units if sigmoids.

    Shape: x (N, 784) -> hidden (N·U,), output (N·C,) or None (softmax outputs have no σ').
    """
    z = model.layer_outputs(x, upto=1)[0]  # (N, U): the first Dense layer's weighted inputs
    a = sigmoid(z)
    hidden = (a * (1 - a)).ravel()
    if model.cost_name != "quadratic":
        return hidden, None
    out = model.forward(model.as_input(x))  # (N, C): sigmoid activations of the output layer
    return hidden, (out * (1 - out)).ravel()


def _subset(data: MNIST, n_train: int, n_val: int) -> MNIST:
    return MNIST(
        Split(data.train.x[:n_train], data.train.y[:n_train]),
        Split(data.validation.x[:n_val], data.validation.y[:n_val]),
        data.test,
    )


def _label(activation: str, cost: str, lr: float | None = None) -> str:
    name = f"{'sigmoid' if activation == 'sigmoid' else 'ReLU'} + {cost}"
    return name if lr is None else f"{name} (η = {lr:g})"


@experiment("cost-lab", "quadratic vs cross-entropy, sigmoid vs ReLU: learning curves and saturation")
def run(lab: Lab) -> None:
    if lab.quick:
        pilot_data, data, epochs = _subset(lab.data, 1_000, 1_000), _subset(lab.data, 2_000, 1_000), 2
    else:
        pilot_data, data, epochs = _subset(lab.data, 10_000, 10_000), lab.data, 6
    probe = (data.validation.x[:PROBE], data.validation.y[:PROBE])
    sample = lab.data.test.x[:1_000]  # the images whose σ'(z) is shown

    runs = {}
    for activation, cost in COMBOS:
        key = f"{activation}+{cost}"
        pilot = {
            lr: lab.train(
                nielsen_sgd(lab.seed, lr, 1, activation=activation, cost=cost), data=pilot_data
            ).metrics["val_accuracy"]
            for lr in ETA_GRID
        }
        lr = max(ETA_GRID, key=lambda eta: pilot[eta])  # the first (smallest) of equals
        config = nielsen_sgd(lab.seed, lr, epochs, activation=activation, cost=cost)
        prober = ProbeAccuracy(*probe)
        initial = build_model(config)  # the same weights lab.train starts from (same seed)
        result = lab.train(config, data=data, callbacks=[prober])
        runs[key] = {
            "activation": activation,
            "cost": cost,
            "lr": lr,
            "pilot": pilot,
            "result": result,
            "probe": (np.array(prober.batches), np.array(prober.accuracy)),
        }
        if activation == "sigmoid":
            runs[key]["slopes"] = (sigmoid_slopes(initial, sample), sigmoid_slopes(result.model, sample))

    lab.figure("learning_curves", _curves_figure(runs, len(data.train)))
    lab.figure("sigmoid_derivative", _slopes_figure(runs))
    lab.figure("slowdown_formula", _formula_figure())
    _report(lab, runs, data, epochs)


def _first_reaching(batches, accuracy, level):
    hits = np.flatnonzero(accuracy >= level)
    return int(batches[hits[0]]) if len(hits) else None


def _saturation(slopes):
    return {"mean": float(slopes.mean()), "saturated_share": float(np.mean(slopes < SATURATED))}


def _report(lab, runs, data, epochs):
    record = {}
    for key, r in runs.items():
        h, m = r["result"].history, r["result"].metrics
        batches, acc = r["probe"]
        entry = {
            "lr": r["lr"],
            "nielsen_lr": NIELSEN_ETA[r["cost"]],
            "pilot_val_accuracy": r["pilot"],
            "val_accuracy": h["val_accuracy"],
            "train_loss": h["loss"],
            "final_val_accuracy": m["val_accuracy"],
            "test_accuracy": m["test_accuracy"],
            "probe_batches": batches,
            "probe_accuracy": acc,
            "batches_to_50pct": _first_reaching(batches, acc, 0.5),
            "batches_to_80pct": _first_reaching(batches, acc, 0.8),
        }
        if "slopes" in r:
            (h0, o0), (h1, o1) = r["slopes"]
            entry["hidden_sigma_prime"] = {"init": _saturation(h0), "trained": _saturation(h1)}
            if o0 is not None:
                entry["output_sigma_prime"] = {"init": _saturation(o0), "trained": _saturation(o1)}
        record[key] = entry
    lab.record(
        architecture="784-30-10",
        epochs=epochs,
        train_images=len(data.train),
        eta_grid=ETA_GRID,
        saturated_below=SATURATED,
        runs=record,
    )

    lab.say(
        "Claim: cross-entropy learns faster than the quadratic cost (no σ' in the output error, so no "
        "slowdown when badly wrong), and sigmoid hidden units saturate (σ'(z) → 0) as training goes on."
    )
    lab.say(
        f"Four 784-30-10 networks, same seed, SGD with batches of 10, {epochs} epochs on "
        f"{len(data.train):,} images. η per combination: best of {list(ETA_GRID)} after a one-epoch "
        "pilot (validation accuracy); Nielsen used 3.0 (quadratic) and 0.5 (cross-entropy)."
    )
    for key, e in record.items():
        r = runs[key]
        reach = e["batches_to_80pct"]
        name = _label(r["activation"], r["cost"], r["lr"])
        lab.say(
            f"  {name:36s} validation {e['final_val_accuracy']:.2%}, "
            f"test {e['test_accuracy']:.2%}; 80% of the probe set after "
            f"{'never' if reach is None else f'{reach:,} batches'}"
        )
    for activation, name in (("sigmoid", "sigmoid"), ("relu", "ReLU")):
        q, c = (record[f"{activation}+{cost}"] for cost in ("quadratic", "cross-entropy"))
        qb, cb = q["batches_to_80pct"], c["batches_to_80pct"]
        faster = cb is not None and (qb is None or cb < qb)
        lab.say(
            f"Early learning, {name}: cross-entropy (η = {c['lr']:g}) reached 80% after {cb} batches, "
            f"quadratic (η = {q['lr']:g}) after {qb}: cross-entropy "
            f"{'learned faster' if faster else 'was NOT faster'}."
        )
    for key in ("sigmoid+quadratic", "sigmoid+cross-entropy"):
        s = record[key]["hidden_sigma_prime"]
        lab.say(
            f"Hidden σ'(z), sigmoid + {key.split('+')[1]}: mean {s['init']['mean']:.3f} at init -> "
            f"{s['trained']['mean']:.3f} after training; saturated (σ' < {SATURATED}) "
            f"{s['init']['saturated_share']:.1%} -> {s['trained']['saturated_share']:.1%} of unit-images."
        )
    out = record["sigmoid+quadratic"]["output_sigma_prime"]
    lab.say(
        f"Output σ'(z) of the quadratic sigmoid network: saturated {out['init']['saturated_share']:.1%} at "
        f"init -> {out['trained']['saturated_share']:.1%} after training (δᴸ = (a - y)σ'(z) there)."
    )


def _style(activation, cost):
    return {"color": "C3" if activation == "sigmoid" else "C0", "ls": "--" if cost == "quadratic" else "-"}


def _curves_figure(runs, n_images):
    from digitnet.plots import new_figure

    fig, axes = new_figure(15, 4.6, ncols=3)
    for r in runs.values():
        h = r["result"].history
        style, label = _style(r["activation"], r["cost"]), _label(r["activation"], r["cost"], r["lr"])
        epochs = np.arange(1, len(h) + 1)
        axes[0].plot(epochs, np.array(h["val_accuracy"]) * 100, marker="o", label=label, **style)
        axes[1].plot(epochs, h["loss"], marker="o", label=label, **style)
        batches, acc = r["probe"]
        axes[2].plot(np.maximum(batches, 0.7), acc * 100, label=label, **style)  # batch 0 drawn at 0.7
    axes[0].set(title="Validation accuracy per epoch", xlabel="epoch", ylabel="validation accuracy (%)")
    axes[1].set(
        title="Training cost per epoch (each network's own cost)",
        xlabel="epoch",
        ylabel="mean training cost over the epoch (log)",
        yscale="log",
    )
    axes[1].annotate(
        "quadratic ½‖a − y‖² and cross-entropy −log p\nhave different scales: compare shapes",
        xy=(0.3, 0.42),
        xycoords="axes fraction",
        fontsize=8,
        color="0.3",
    )
    axes[2].set(
        title="Early learning (1,000 validation images)",
        xscale="log",
        ylim=(0, 100),
        xlabel="mini-batches of 10 seen (log scale; 0 drawn at 0.7)",
        ylabel="accuracy (%)",
    )
    axes[2].axhline(10, color="0.6", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"784-30-10, SGD, same seed, {n_images:,} training images: quadratic (dashed) vs "
        "cross-entropy (solid), sigmoid (red) vs ReLU (blue)"
    )
    return fig


def _slopes_figure(runs):
    from digitnet.plots import new_figure

    bins = np.linspace(0, 0.25, 51)
    fig, axes = new_figure(15, 4.2, ncols=3, sharey=True)
    panels = [
        (axes[0], "sigmoid+quadratic", 0, "hidden units, quadratic cost"),
        (axes[1], "sigmoid+cross-entropy", 0, "hidden units, cross-entropy cost"),
        (axes[2], "sigmoid+quadratic", 1, "output units, quadratic cost"),
    ]
    for ax, key, which, title in panels:
        (init, trained) = (runs[key]["slopes"][0][which], runs[key]["slopes"][1][which])
        weights = np.full(len(init), 100 / len(init))  # bars in % of unit-image pairs
        ax.hist(init, bins=bins, weights=weights, color="0.6", alpha=0.7, label="at initialisation")
        ax.hist(trained, bins=bins, weights=weights, color="C3", alpha=0.6, label="after training")
        ax.axvline(0.25, color="k", ls="--", lw=1)
        ax.text(
            0.247,
            0.97,
            "max σ' = 1/4\n(z = 0)",
            transform=ax.get_xaxis_transform(),
            ha="right",
            va="top",
            fontsize=8,
        )
        ax.axvspan(0, SATURATED, color="C1", alpha=0.12, label=f"saturated (σ' < {SATURATED}, |z| > 3.6)")
        ax.set(title=f"σ'(z) of the {title}", xlabel="σ'(z) = σ(z)(1 − σ(z))", xlim=(0, 0.26))
        ax.legend(loc="upper center", fontsize=8)
    axes[0].set_ylabel("share of (unit, test image) pairs (%)")
    fig.suptitle(
        "Saturation of the sigmoid network 784-30-10 on 1,000 test images: initialisation vs after training"
    )
    return fig


def _formula_figure():
    from digitnet.plots import new_figure

    z = np.linspace(-4, 8, 400)
    a = sigmoid(z)
    fig, ax = new_figure(7, 4.2)
    ax.plot(z, a * a * (1 - a), "C3--", label="quadratic: ∂C/∂z = (a − y)σ'(z) = a·σ'(z)")
    ax.plot(z, a, "C0-", label="cross-entropy −[y ln a + (1 − y) ln(1 − a)]: ∂C/∂z = a − y = a")
    for w, b, name, height in ((0.6, 0.9, "good start", 0.5), (2.0, 2.0, "bad start", 0.3)):
        ax.axvline(w + b, color="0.5", ls=":", lw=1)
        ax.text(
            w + b + 0.15,
            height,
            f"Nielsen's {name}\nw = {w}, b = {b}, x = 1\na = {1 / (1 + np.exp(-(w + b))):.2f}",
            fontsize=8,
            color="0.3",
        )
    ax.set(
        title="Learning slowdown of one sigmoid neuron, target y = 0 (formula, no training)",
        xlabel="weighted input z = wx + b",
        ylabel="∂C/∂z (= ∂C/∂b; how fast b learns)",
    )
    ax.set_ylim(-0.05, 1.3)  # room for the legend above the curves
    ax.legend(loc="upper left", fontsize=8)
    return fig
