"""``digitnet experiment dream``: the input each output neuron likes best, next to the average digit.

Claim
-----
Asking the network to "dream" its ideal 3, by changing the input until the 3-neuron fires as hard as it
can, gives an image the network is more certain of than of any real 3, yet it is a caricature: parts of
the strokes where the network looks for them, blotches of ink no person would write, and blank space
where ink would count against the class. It resembles the average 3 only loosely.

Method
------
1. Train the usual 784-100-10 ReLU network through ``lab.train`` (quick mode: a small one).
2. For each class c, projected gradient ascent on the input of J_c(x) = z_c(x) - λ‖x‖², z_c the
   class's logit::

       x <- clip(x + η (dz_c/dx - 2λx), 0, 1),   x₀ = 0 (a blank, black canvas, like MNIST's background)

   with λ = 0.05, η = 0.05 and 1,000 steps (J has stopped rising well before). dz_c/dx is the
   backward pass of the one-hot vector e_c from the logits. The clip keeps a valid image, and the
   penalty keeps pixels that help z_c by less than 2λx off. A ReLU network is piecewise linear, so
   within one linear region the best pixel value is clip(∂z_c/∂x / 2λ, 0, 1): most pixels end at 0 or 1.
3. Compare with the class means of the training digits: x̄_c = mean of the training images labelled c.
   Record each dream's probability p_c = softmax(z)_c (and 1 - p_c = Σ_{k≠c} p_k, computed as that sum
   in float64 so it does not round to 0), logit, L2 norm and pixel correlation with x̄_c, and the
   probability the network gives each class mean.

Expected time: 1.5 minutes on two idle cores, up to 4 when they are shared (training dominates; the
ascent takes about a second); quick mode about 10 seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.experiments._shared_input import dream, train_network
from digitnet.experiments.lab import Lab, experiment
from digitnet.nn.activations import softmax
from digitnet.plots import digit_grid, new_figure

__all__ = ["run"]

PENALTY = 0.05  # λ in z_c(x) - λ‖x‖²: large enough to keep useless pixels dark, small enough for p_c ≈ 1
RATE = 0.05  # η, the ascent's step size
STEPS = 1_000  # J_c has converged (changes < 0.1%) after a few hundred steps
START = 0.0  # every pixel starts black, as MNIST's background


@experiment("dream", "the input each class neuron likes best (gradient ascent), next to the class means")
def run(lab: Lab) -> None:
    result = train_network(lab)
    model = result.model
    classes = np.arange(10)
    dreamt = dream(model, classes, start=START, penalty=PENALTY, rate=RATE, steps=STEPS)
    p_dream = softmax(model.forward(dreamt.images).astype(np.float64))  # (10, 10)

    n = result.metrics["train_examples"]  # the digits the network learned from (quick: the first 10,000)
    train = lab.data.train
    means = np.stack([train.x[:n][train.y[:n] == c].mean(axis=0) for c in classes])  # (10, 784)
    p_means = softmax(model.forward(means).astype(np.float64))  # (10, 10)
    correlation = np.array([np.corrcoef(dreamt.images[c], means[c])[0, 1] for c in classes])  # (10,)
    norms = np.linalg.norm(dreamt.images, axis=1)
    own = p_dream[classes, classes]
    others = ~np.eye(10, dtype=bool)  # (10, 10): True off the diagonal, k ≠ c
    # 1 - p_c summed as Σ_{k≠c} p_k: stays > 0 where p_c itself rounds to 1
    doubt = np.where(others, p_dream, 0).sum(axis=1)  # (10,)
    doubt_means = np.where(others, p_means, 0).sum(axis=1)
    runner_up = np.where(others, p_dream, -1.0).argmax(axis=1)

    lab.record(
        network=result.metrics,
        method={
            "objective": "z_c(x) - λ‖x‖²",
            "penalty": PENALTY,
            "rate": RATE,
            "steps": STEPS,
            "start": START,
        },
        dream_probability=own,
        dream_one_minus_probability=doubt,
        dream_logit=dreamt.logit,
        dream_objective=dreamt.history[-1],
        dream_objective_gain_last_100_steps=dreamt.history[-1] - dreamt.history[-101],
        dream_l2_norm=norms,
        dream_ink_share=np.mean(dreamt.images > 0.5, axis=1),
        dream_runner_up=runner_up,
        dream_mean_correlation=correlation,
        class_mean_probability=p_means[classes, classes],
        class_mean_l2_norm=np.linalg.norm(means, axis=1),
    )

    titles = [f"{c}: p={_probability(own[c], doubt[c])}\n‖x‖={norms[c]:.1f}" for c in classes]
    title = f"What each output neuron likes best (ascent on z_c − {PENALTY}‖x‖²)"
    lab.figure("dreams", digit_grid(dreamt.images, titles, columns=5, size=1.9, suptitle=title))
    mean_titles = [
        f"mean {c}: p={_probability(p_means[c, c], doubt_means[c])}\ncorr. with dream {correlation[c]:.2f}"
        for c in classes
    ]
    title = "The average training digit of each class, for comparison"
    lab.figure("class_means", digit_grid(means, mean_titles, columns=5, size=1.9, suptitle=title))
    lab.figure("dream_objective", _objective_figure(dreamt.history))

    lab.say(
        "Claim: the input the network finds most like each digit is certain for it, "
        "yet only a caricature of it."
    )
    lab.say(f"Network {result.metrics['architecture']}, test accuracy {result.metrics['test_accuracy']:.2%}.")
    lab.say(
        f"Method: gradient ascent on z_c(x) - {PENALTY}·‖x‖² from a black image, step {RATE}, {STEPS} steps, "
        "pixels clipped to [0, 1]."
    )
    lab.say(
        f"Dreams: each gets its class with p >= 1 − {doubt.max():.0e} (1 − p from {doubt.min():.0e} to "
        f"{doubt.max():.0e}); L2 norm {norms.min():.1f} to {norms.max():.1f} (class means: "
        f"{np.linalg.norm(means, axis=1).mean():.1f} on average)."
    )
    lab.say(
        f"Correlation of each dream with its class mean: {correlation.min():.2f} to {correlation.max():.2f} "
        f"(mean {correlation.mean():.2f}); the class means themselves get "
        f"p = {p_means[classes, classes].min():.3f} to {p_means[classes, classes].max():.3f}."
    )
    lab.say(
        "Lesson: each output neuron scores evidence for and against its class; "
        "its favourite input need not be a digit."
    )


def _probability(p: float, doubt: float) -> str:
    """0.9731, or 1−3e-08 (from ``doubt`` = 1 - p) for probabilities too close to 1 for four decimals."""
    return f"{p:.4f}" if p < 0.9999 else f"1−{doubt:.0e}"


def _objective_figure(history: np.ndarray):
    """The objective z_c(x) - λ‖x‖² of each class over the ascent's steps."""
    fig, ax = new_figure(6.8, 4.0)
    for c in range(history.shape[1]):
        ax.plot(np.arange(len(history)), history[:, c], label=str(c))
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("ascent step (log scale after 10)")
    ax.set_ylabel(f"z_c(x) − {PENALTY}·‖x‖²  (logit units)")
    ax.set_title("Gradient ascent on the input converges")
    ax.legend(title="class", ncols=2, fontsize=8)
    return fig
