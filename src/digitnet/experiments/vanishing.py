"""``digitnet experiment vanishing``: in a deep sigmoid network the early layers barely learn.

Claim (Nielsen, chapter 5; Glorot & Bengio 2010): backpropagation multiplies the error by σ'(z) ≤ 1/4
and by a weight matrix at every layer on its way down,

    δˡ = (Wˡ⁺¹ δˡ⁺¹) ⊙ σ'(zˡ),      ∂C/∂bˡ = δˡ,      ∂C/∂Wˡ = aˡ⁻¹ δˡ,

so with weights of the usual size the gradient shrinks roughly geometrically towards the input: the
first hidden layer learns orders of magnitude more slowly than the last. ReLU's derivative is 1 for an
active unit, and He initialisation (Var W = 2 / fan-in) keeps ‖δˡ‖ about constant from layer to layer.

Method. Two networks 784-30-30-30-30-30-10 (five hidden layers of 30, as in Nielsen's chapter 5, which
uses 30-unit layers), identical except for the hidden activation: sigmoid (LeCun initialisation,
W ~ N(0, 1/fan-in), network2.py's default) and ReLU (He initialisation). Both use the cross-entropy
cost (softmax outputs, as Nielsen's chapter 5 uses cross-entropy), plain SGD with η = 0.1 (Nielsen's
value), mini-batches of 10, no L2, and are trained through ``lab.train`` for ONE epoch. A callback
records, after every mini-batch, the norms of each dense layer's gradients of the batch-averaged cost:

* ‖∂C/∂bˡ‖ = ‖δˡ‖ averaged over the batch: Nielsen's "speed of learning" of layer l. Every hidden layer
  has 30 biases, so these norms compare like with like;
* ‖∂C/∂Wˡ‖ (Frobenius): layer 1's matrix has 784 × 30 entries and the others 30 × 30, so its norm also
  reflects the input's size, not only the backpropagated error.

Full mode: one epoch over the 50,000 training images (5,000 batches), about 5 s on two cores.
Quick mode: the first 3,000 images (300 batches), a few seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.data import MNIST, Split
from digitnet.experiments.lab import Lab, experiment
from digitnet.nn import Callback, Dense
from digitnet.training.config import TrainConfig

__all__ = ["GradientNorms", "run"]

HIDDEN = (30, 30, 30, 30, 30)  # Nielsen's chapter 5 widths, one layer deeper than his deepest example
ACTIVATIONS = ("sigmoid", "relu")
SMOOTH = 25  # batches in the running mean drawn over the raw per-batch norms


class GradientNorms(Callback):
    """After each mini-batch, the norms ‖∂C/∂W‖ and ‖∂C/∂b‖ of every dense layer (every ``every``-th batch).

    Attributes (filled during training)
    -----------------------------------
    weights, biases : list of list of float
        One row per recorded batch, one column per dense layer (first hidden ... output).
    batches : list of int
        The running batch number (from 1, across epochs) of each row.
    """

    def __init__(self, every: int = 1):
        self.every = every

    def on_train_begin(self, epochs, batches_per_epoch):
        self.dense = [layer for layer in self.model.layers if isinstance(layer, Dense)]
        self.per_epoch = batches_per_epoch
        self.weights, self.biases, self.batches = [], [], []

    def on_batch_end(self, epoch, batch, loss):
        step = (epoch - 1) * self.per_epoch + batch
        if step % self.every:
            return
        # the gradients of the batch just used (the SGD step has already moved the parameters)
        self.weights.append([float(np.linalg.norm(d.grads["W"])) for d in self.dense])
        self.biases.append([float(np.linalg.norm(d.grads["b"])) for d in self.dense])
        self.batches.append(step)


def _config(lab: Lab, activation: str) -> TrainConfig:
    return TrainConfig(
        hidden=HIDDEN,
        activation=activation,
        cost="cross-entropy",
        optimizer="sgd",
        lr=0.1,
        schedule="constant",
        batch_size=10,
        epochs=1,
        l2=0.0,
        seed=lab.seed,
    )


def _data(lab: Lab) -> MNIST:
    data = lab.data
    if not lab.quick:
        return data
    n, v = 3_000, 2_000  # quick: 300 batches; a smaller validation set to score them
    train = Split(data.train.x[:n], data.train.y[:n])
    return MNIST(train, Split(data.validation.x[:v], data.validation.y[:v]), data.test)


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start). Shape kept: (T,)."""
    c = np.cumsum(np.concatenate([[0.0], values]))  # (T + 1,)
    i = np.arange(1, len(values) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


@experiment("vanishing", "deep sigmoid nets: early layers' gradients vanish; ReLU keeps them alive")
def run(lab: Lab) -> None:
    data = _data(lab)
    norms, accuracy = {}, {}
    for activation in ACTIVATIONS:
        recorder = GradientNorms()
        result = lab.train(_config(lab, activation), data=data, callbacks=[recorder])
        norms[activation] = {
            "b": np.array(recorder.biases),
            "W": np.array(recorder.weights),
            "batch": np.array(recorder.batches),
        }  # (T, L) each
        accuracy[activation] = result.metrics["val_accuracy"]

    hidden = len(HIDDEN)
    means = {a: {k: norms[a][k].mean(axis=0) for k in ("b", "W")} for a in ACTIVATIONS}  # (L,) each
    ratio = {a: {k: float(means[a][k][hidden - 1] / means[a][k][0]) for k in ("b", "W")} for a in ACTIVATIONS}
    lab.figure("gradient_norms", _per_batch_figure(norms, len(data.train)))
    lab.figure("mean_gradient_per_layer", _bar_figure(means))

    lab.record(
        architecture=_config(lab, "sigmoid").architecture,
        train_images=len(data.train),
        batches=len(norms["sigmoid"]["batch"]),
        learning_rate=0.1,
        batch_size=10,
        cost="cross-entropy",
        layers=[f"hidden {i + 1}" for i in range(hidden)] + ["output"],
        mean_bias_gradient_norm={a: means[a]["b"] for a in ACTIVATIONS},
        mean_weight_gradient_norm={a: means[a]["W"] for a in ACTIVATIONS},
        ratio_last_to_first_hidden_bias=({a: ratio[a]["b"] for a in ACTIVATIONS}),
        ratio_last_to_first_hidden_weight=({a: ratio[a]["W"] for a in ACTIVATIONS}),
        val_accuracy_after_one_epoch=accuracy,
    )
    sig, relu = means["sigmoid"]["b"], means["relu"]["b"]
    lab.say(
        f"Claim: in a deep sigmoid network the gradient vanishes in the early layers; ReLU fixes it. "
        f"Networks {_config(lab, 'sigmoid').architecture}, cross-entropy, SGD η = 0.1, batches of 10, "
        f"one epoch over {len(data.train):,} images; gradient norms recorded after each of "
        f"{len(norms['sigmoid']['batch']):,} batches."
    )
    lab.say("Mean speed of learning ‖∂C/∂b‖ per hidden layer (first ... last):")
    lab.say("  sigmoid: " + "  ".join(f"{v:.2e}" for v in sig[:hidden]))
    lab.say("  ReLU:    " + "  ".join(f"{v:.2e}" for v in relu[:hidden]))
    lab.say(
        f"Last / first hidden layer: sigmoid {ratio['sigmoid']['b']:.0f}x (bias), "
        f"{ratio['sigmoid']['W']:.0f}x (weight); ReLU {ratio['relu']['b']:.2f}x (bias), "
        f"{ratio['relu']['W']:.2f}x (weight)."
    )
    verdict = "confirmed" if ratio["sigmoid"]["b"] > 10 and 0.2 < ratio["relu"]["b"] < 5 else "NOT confirmed"
    lab.say(
        f"The sigmoid network's first layer learns {ratio['sigmoid']['b']:.0f} times slower than "
        f"its last; ReLU's layers learn at about the same speed: {verdict}. Validation accuracy after "
        f"the one epoch: sigmoid {accuracy['sigmoid']:.1%}, ReLU {accuracy['relu']:.1%}."
    )


def _per_batch_figure(norms, n_images):
    from digitnet.plots import new_figure

    hidden = len(HIDDEN)
    colours = [f"C{i}" for i in range(hidden)]
    fig, axes = new_figure(12, 4.6, ncols=2, sharey=True)
    for ax, activation in zip(axes, ACTIVATIONS):
        b, steps = norms[activation]["b"], norms[activation]["batch"]
        for layer in range(hidden):
            ax.plot(
                steps,
                _running_mean(b[:, layer], SMOOTH),
                color=colours[layer],
                lw=1.5,
                label=f"hidden layer {layer + 1}",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, steps[-1])
        name = "sigmoid, LeCun init" if activation == "sigmoid" else "ReLU, He init"
        ax.set_title(f"{name}: ‖∂C/∂b‖ of each hidden layer")
        ax.set_xlabel(f"mini-batch (10 images each; one epoch over {n_images:,} images)")
    axes[0].set_ylabel("gradient norm ‖∂C/∂b‖ (log scale)")
    axes[1].legend(loc="lower right", ncols=2, fontsize=8, frameon=True)
    fig.suptitle(
        "Speed of learning per layer, 784-30-30-30-30-30-10, cross-entropy, SGD η = 0.1 "
        f"(running mean over {SMOOTH} batches)"
    )
    return fig


def _bar_figure(means):
    from digitnet.plots import new_figure

    layers = len(HIDDEN) + 1
    x = np.arange(layers)
    labels = [str(i + 1) for i in range(layers - 1)] + ["output"]
    fig, axes = new_figure(12, 4.2, ncols=2)
    for ax, (key, what) in zip(axes, (("b", "‖∂C/∂b‖ (biases)"), ("W", "‖∂C/∂W‖ (weights, Frobenius)"))):
        for k, (activation, colour) in enumerate(zip(ACTIVATIONS, ("C3", "C0"))):
            ax.bar(
                x + (k - 0.5) * 0.38,
                means[activation][key],
                width=0.38,
                color=colour,
                label="sigmoid" if activation == "sigmoid" else "ReLU",
            )
        values = np.concatenate([means[a][key] for a in ACTIVATIONS])
        ax.set_yscale("log")
        ax.set_ylim(values.min() / 4, values.max() * 12)  # room for the legend above the bars
        ax.set_xticks(x, labels)
        ax.set_xlabel("layer (1 = first hidden, next to the input)")
        ax.set_ylabel(f"mean {what.split(' ')[0]} over the epoch (log scale)")
        ax.set_title(f"Mean gradient norm per layer: {what}")
        ax.legend(loc="upper center", ncols=2)
    axes[1].set_xlabel("layer (1 = first hidden; its W has 784 × 30 entries, the others 30 × 30)")
    return fig
