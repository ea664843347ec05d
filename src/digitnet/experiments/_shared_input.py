"""Helpers shared by the input-space experiments (``noise``, ``reject``, ``dream``, ``robustness``).

Registers no experiment. It holds the one network those experiments study, the noise they feed it,
and gradient steps on the *input* (the weights stay fixed):

* :func:`train_network` trains a 784-100-10 ReLU network (cross-entropy, Adam 1e-3, cosine schedule,
  L2 3e-4) through ``lab.train``, on the lab's 50,000 training digits (quick mode: 784-64-10 on the
  first 10,000, 3 epochs).
* :func:`uniform_noise` draws images whose 784 pixels are independent U(0, 1).
* :func:`fool` descends the cost of a chosen label on the input until the network is sure of it.
* :func:`dream` climbs one class's logit on the input, minus an L2 penalty.

Shapes: N images, D = 784 pixels, C = 10 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.experiments.lab import Lab
from digitnet.training.config import TrainConfig
from digitnet.training.runs import TrainResult

__all__ = [
    "DreamResult",
    "FoolResult",
    "confidence",
    "dream",
    "fool",
    "network_config",
    "nines",
    "nines_axis",
    "nines_top",
    "train_network",
    "uniform_noise",
]

QUICK_TRAIN_SIZE = 10_000  # quick mode: about 91% test accuracy after 3 epochs, in a few seconds


def network_config(lab: Lab) -> TrainConfig:
    """The network under study: 784-100-10 for 15 epochs (~98% test accuracy), or a small one when quick."""
    # the defaults are the rest: ReLU, cross-entropy, Adam 1e-3, cosine schedule, L2 3e-4, batches of 64
    config = TrainConfig(hidden=(100,), epochs=15, seed=lab.seed)
    if lab.quick:
        config = config.replace(hidden=(64,), epochs=3, train_size=QUICK_TRAIN_SIZE)
    return config


def train_network(lab: Lab) -> TrainResult:
    """Train :func:`network_config` through ``lab.train`` on the lab's MNIST
    (first 10,000 digits if quick).
    """
    return train_on_lab_data(lab, network_config(lab))


def train_on_lab_data(lab: Lab, config: TrainConfig) -> TrainResult:
    """``lab.train(config)`` on the lab's MNIST (the one training path keeps only the first
    ``config.train_size`` training digits)."""
    return lab.train(config)


def uniform_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` images of independent U(0, 1) pixels, float32, shape (N, 784)."""
    return rng.random((n, 784), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class FoolResult:
    """Where :func:`fool` ended.

    Attributes
    ----------
    images : ndarray (N, 784)
        The final inputs, in [0, 1].
    confidence : ndarray (N,)
        The network's probability for each target label at the end.
    iterations : ndarray (N,)
        Steps taken until the target probability reached the goal (``max_steps`` if it never did).
    reached : ndarray (N,) of bool
        Whether the goal was reached.
    """

    images: np.ndarray
    confidence: np.ndarray
    iterations: np.ndarray
    reached: np.ndarray


def fool(
    model,
    start: np.ndarray,
    targets: np.ndarray,
    *,
    step: float = 0.5,
    goal: float = 0.99,
    max_steps: int = 300,
) -> FoolResult:
    """Change ``start`` until the network gives each ``targets`` label probability ``goal``.

    Normalised gradient descent on the input, the iterative "fast gradient" method with an L2 step::

        g = dC/dx,   x <- clip(x - step * g / ‖g‖₂, 0, 1)

    with C = -log p_target(x) the cross-entropy for the target. Each step moves an image by at most
    ``step`` in Euclidean distance (a U(0, 1) noise image has norm about √(784/3) ≈ 16), so a few
    dozen steps change it only slightly. An image stops moving once it reaches ``goal``.

    Shape: start (N, 784), targets (N,) -> :class:`FoolResult` with arrays of N rows.
    """
    if not 0 < goal < 1:
        raise ValueError(f"goal must be a probability in (0, 1), got {goal!r}")
    if step <= 0 or max_steps < 1:
        raise ValueError(f"step and max_steps must be positive, got {step!r} and {max_steps!r}")
    x = np.array(start, dtype=np.float32).reshape(len(start), -1)  # (N, D), a copy
    targets = np.asarray(targets, dtype=np.intp)
    rows = np.arange(len(x))
    iterations = np.full(len(x), max_steps)
    confidence = model.predict_proba(x)[rows, targets]  # (N,)
    active = confidence < goal
    iterations[~active] = 0
    for i in range(1, max_steps + 1):
        if not active.any():
            break
        _, grad = model.input_gradient(x[active], targets[active])  # (n, D)
        norm = np.linalg.norm(grad, axis=1, keepdims=True)  # (n, 1)
        x[active] = np.clip(x[active] - step * grad / np.maximum(norm, 1e-12), 0.0, 1.0)
        confidence[active] = model.predict_proba(x[active])[np.arange(active.sum()), targets[active]]
        done = active & (confidence >= goal)
        iterations[done] = i
        active &= ~done
    return FoolResult(x, confidence, iterations, confidence >= goal)


@dataclass(frozen=True, eq=False)
class DreamResult:
    """Where :func:`dream` ended: ``images`` (C, 784) in [0, 1] and each one's ``logit`` for its class."""

    images: np.ndarray
    logit: np.ndarray
    history: np.ndarray  # (steps + 1, C): the objective z_c(x) - λ‖x‖² after each step


def dream(
    model,
    classes: np.ndarray,
    *,
    start: float = 0.0,
    penalty: float = 0.01,
    rate: float = 0.01,
    steps: int = 500,
) -> DreamResult:
    """For each class c, the input in [0, 1]^784 that maximises its logit minus an L2 penalty.

    Projected gradient ascent on the objective J_c(x) = z_c(x) - λ‖x‖²::

        x <- clip(x + η (dz_c/dx - 2λx), 0, 1)

    starting from every pixel equal to ``start``. dz_c/dx is backpropagation from the one-hot
    gradient e_c at the logits (``model.forward`` then ``model.backward``). The penalty keeps pixels
    that barely help the class dark, so the image shows only the strokes the network looks for; the
    clip keeps it a valid image. The model must output logits (cross-entropy cost).

    Shape: classes (C,) -> images (C, 784), logit (C,), history (steps + 1, C).
    """
    if model.cost_name != "cross-entropy":
        raise ValueError(f"dream climbs logits and needs a cross-entropy model, got cost {model.cost_name!r}")
    classes = np.asarray(classes, dtype=np.intp)
    rows = np.arange(len(classes))
    x = np.full((len(classes), 784), start, dtype=np.float32)  # (C, D)
    onehot = np.zeros((len(classes), model.n_classes), dtype=np.float32)  # (C, K)
    onehot[rows, classes] = 1.0
    history = []
    for _ in range(steps):
        logits = model.forward(x)  # (C, K); caches what backward needs
        history.append(logits[rows, classes] - penalty * np.einsum("nd,nd->n", x, x))
        grad = model.backward(onehot)  # (C, D): dz_c/dx for each row's own class
        x = np.clip(x + rate * (grad - 2 * penalty * x), 0.0, 1.0)
    logit = model.forward(x)[rows, classes]
    history.append(logit - penalty * np.einsum("nd,nd->n", x, x))
    return DreamResult(x, logit, np.array(history))


def confidence(model, x: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The top probability ("confidence") and predicted class of each input, in float64.

    The softmax is taken in float64 from the logits, so confidences like 1 - 10⁻⁹ stay apart instead of
    all rounding to 1.0 as they would in float32. The model must output logits (cross-entropy cost).
    Shape: x (N, 784) -> confidence (N,), classes (N,).
    """
    from digitnet.nn.activations import softmax

    if model.cost_name != "cross-entropy":
        raise ValueError(f"confidence needs a cross-entropy model (logits out), got cost {model.cost_name!r}")
    x = model.as_input(x)
    p = np.concatenate(
        [
            softmax(model.forward(x[i : i + batch_size]).astype(np.float64))
            for i in range(0, len(x), batch_size)
        ]
    )  # (N, C)
    return p.max(axis=1), p.argmax(axis=1)


NINES_CAP = 8  # on the "nines" axis, confidences above 1 - 10⁻⁸ are drawn at 1 - 10⁻⁸


def nines(p: np.ndarray) -> np.ndarray:
    """-log10(1 - p): 1 for 0.9, 2 for 0.99, 3 for 0.999; capped at ``NINES_CAP``. Shape kept."""
    return -np.log10(np.clip(1.0 - np.asarray(p, dtype=np.float64), 10.0**-NINES_CAP, 1.0))


def nines_top(*confidences: np.ndarray) -> int:
    """The whole number of nines that covers every confidence given (2 to ``NINES_CAP``), for axis limits."""
    most = max(float(nines(c).max()) for c in confidences if len(c))
    return int(min(NINES_CAP, max(2, np.ceil(most))))


def nines_axis(ax, *, top: int = NINES_CAP) -> None:
    """Label the x axis of ``ax``, drawn in :func:`nines` units, with confidences 0.5, 0.9, 0.99, ..."""
    ticks = [nines(0.5), *range(1, top + 1)]
    labels = ["0.5", "0.9", "0.99", "0.999", "0.9999"] + [
        f"1−10⁻{_superscript(k)}" for k in range(5, top + 1)
    ]
    ax.set_xticks(ticks, labels[: len(ticks)], rotation=30)
    ax.set_xlim(0, top + 0.05)
    ax.set_xlabel("confidence = top softmax probability (scale: 0.9, 0.99, 0.999, ... equally spaced)")


def confidence_histograms(ax, groups, *, line: float, line_label: str, line_width: float = 1.0) -> None:
    """Step histograms, on the :func:`nines` axis with a log count scale, of each ``(confidences,
    label)`` in ``groups``, and a dashed vertical line at confidence ``line``. Shape: each (n_g,)."""
    top = nines_top(*(confidences for confidences, _ in groups))
    bins = np.linspace(0, top + 0.05, 8 * top + 1)
    for confidences, label in groups:
        ax.hist(nines(confidences), bins=bins, histtype="step", lw=1.8, label=label)
    ax.axvline(nines(line), color="k", ls="--", lw=line_width, label=line_label)
    ax.set_yscale("log")
    nines_axis(ax, top=top)
    ax.set_ylabel("number of images (log scale)")


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
