"""``digitnet experiment noise``: the network confidently calls random noise a digit.

Claim
-----
A classifier trained only on digits has no way to say "none of these": its softmax spreads probability
1 over the ten digits whatever the input is. Shown pure noise, it still picks a digit, often with high
confidence, and it picks the same one or two digits for almost every noise image.

Method
------
1. Train the usual 784-100-10 ReLU network (cross-entropy, Adam, 15 epochs on 50,000 digits) through
   ``lab.train``.
2. Draw 10,000 noise images whose pixels are independent U(0, 1) (quick mode: 1,000) and compare the
   confidence c(x) = max_k softmax(z(x))_k on them with that on the 10,000 test digits: histograms,
   the share with c >= 0.9, the mean, and which digits noise is called.
3. Fooling images: start from ten fresh noise images and, for each target class t = 0..9, descend the
   target's cross-entropy C = -log p_t(x) on the *input* with normalised steps
   x <- clip(x - η g/‖g‖₂, 0, 1), g = dC/dx, η = 0.25, until p_t >= 0.99 (at most 500 steps).
   The change is small next to the noise itself, so the images still look like noise to a person.

Expected time: 1.5 minutes on two idle cores, up to 4 when they are shared (training dominates);
quick mode about 10 seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.experiments._shared_input import (
    confidence,
    confidence_histograms,
    fool,
    train_network,
    uniform_noise,
)
from digitnet.experiments.lab import Lab, experiment
from digitnet.plots import new_figure, plt

__all__ = ["run"]

HIGH = 0.9  # "high confidence": the network gives one digit at least 90%
FOOL_GOAL = 0.99  # fooling stops once the target class has 99%
FOOL_STEP = 0.25  # L2 length of each fooling step; a noise image has norm ≈ √(784/3) ≈ 16
FOOL_MAX_STEPS = 500


@experiment("noise", "random noise is confidently called a digit; fooling images reach 99% for any class")
def run(lab: Lab) -> None:
    result = train_network(lab)
    model = result.model
    n_noise = 1_000 if lab.quick else 10_000
    test = lab.data.test
    if lab.quick:
        test = type(test)(test.x[:1_000], test.y[:1_000])

    noise = uniform_noise(lab.rng(1), n_noise)  # (N, 784)
    conf_noise, class_noise = confidence(model, noise)
    conf_digits, class_digits = confidence(model, test.x)
    shares = np.bincount(class_noise, minlength=10) / n_noise  # (10,)
    order = np.argsort(shares)[::-1]
    top3 = float(shares[order[:3]].sum())

    start = uniform_noise(lab.rng(2), 10)  # (10, 784): one fresh noise image per target
    fooled = fool(model, start, np.arange(10), step=FOOL_STEP, goal=FOOL_GOAL, max_steps=FOOL_MAX_STEPS)
    start_conf, start_class = confidence(model, start)
    change = fooled.images - start  # (10, 784)

    lab.record(
        network=result.metrics,
        noise_images=n_noise,
        test_digits=len(test),
        noise_share_confident=float(np.mean(conf_noise >= HIGH)),
        digits_share_confident=float(np.mean(conf_digits >= HIGH)),
        high_confidence=HIGH,
        noise_mean_confidence=float(conf_noise.mean()),
        digits_mean_confidence=float(conf_digits.mean()),
        noise_median_confidence=float(np.median(conf_noise)),
        noise_class_shares=shares,
        noise_top_class=int(order[0]),
        noise_top_class_share=float(shares[order[0]]),
        noise_top3_share=top3,
        fooling={
            "goal": FOOL_GOAL,
            "step": FOOL_STEP,
            "max_steps": FOOL_MAX_STEPS,
            "iterations": fooled.iterations,
            "confidence": fooled.confidence,
            "reached": int(fooled.reached.sum()),
            "start_class": start_class,
            "start_confidence": start_conf,
            "l2_change": np.linalg.norm(change, axis=1),
            "max_pixel_change": np.abs(change).max(axis=1),
            "mean_pixel_change": np.abs(change).mean(axis=1),
            "noise_l2_norm": float(np.linalg.norm(start, axis=1).mean()),
        },
    )

    lab.figure("confidence_histogram", _histogram(conf_digits, conf_noise))
    lab.figure("noise_classes", _class_bars(shares, np.bincount(class_digits, minlength=10) / len(test)))
    lab.figure("fooling_images", _fooling_figure(start, fooled, start_class, start_conf))

    lab.say("Claim: a digit classifier confidently calls random noise a digit.")
    lab.say(f"Network {result.metrics['architecture']}, test accuracy {result.metrics['test_accuracy']:.2%}.")
    lab.say(
        f"Uniform noise ({n_noise:,} images): {np.mean(conf_noise >= HIGH):.1%} classified with >= "
        f"{HIGH:.0%} confidence (test digits: {np.mean(conf_digits >= HIGH):.1%}); mean confidence "
        f"{conf_noise.mean():.3f} on noise vs {conf_digits.mean():.3f} on digits."
    )
    lab.say(
        f"Noise collapses onto few digits: {shares[order[0]]:.1%} called '{order[0]}', "
        f"{shares[order[1]]:.1%} '{order[1]}'; the top three classes take {top3:.1%}."
    )
    lab.say(
        f"Fooling: from noise, {int(fooled.reached.sum())}/10 target classes reached p >= {FOOL_GOAL:.0%} "
        f"(median {int(np.median(fooled.iterations))} steps of L2 length {FOOL_STEP}, at most "
        f"{int(fooled.iterations.max())}); mean L2 change {np.linalg.norm(change, axis=1).mean():.2f} "
        f"against a noise norm of {np.linalg.norm(start, axis=1).mean():.1f}: they still look like noise."
    )
    lab.say("Lesson: softmax confidence measures which digit wins, not whether the input is a digit at all.")


def _histogram(conf_digits: np.ndarray, conf_noise: np.ndarray):
    """Overlaid confidence histograms of test digits and noise, on the 'nines' axis."""
    fig, ax = new_figure(7.5, 4.2)
    groups = [
        (conf_digits, f"test digits ({len(conf_digits):,})"),
        (conf_noise, f"uniform noise ({len(conf_noise):,})"),
    ]
    confidence_histograms(ax, groups, line=HIGH, line_label=f"{HIGH:.0%} confidence")
    ax.set_title("How sure the network is: digits vs random noise")
    ax.legend(loc="upper right")
    return fig


def _class_bars(noise_shares: np.ndarray, digit_shares: np.ndarray):
    """Share of noise (and of test digits) predicted as each class."""
    fig, ax = new_figure(7.0, 3.8)
    k = np.arange(10)
    ax.bar(k - 0.2, 100 * digit_shares, width=0.4, label="test digits")
    ax.bar(k + 0.2, 100 * noise_shares, width=0.4, label="uniform noise")
    ax.set_xticks(k)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("share of images (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Which digit the network calls random noise")
    ax.legend()
    return fig


def _fooling_figure(start: np.ndarray, fooled, start_class: np.ndarray, start_conf: np.ndarray):
    """Three rows: the starting noise, the fooling image for each target, and the change between them."""
    change = fooled.images - start  # (10, 784)
    limit = float(np.abs(change).max()) or 1.0
    fig, axes = plt.subplots(3, 10, figsize=(12, 4.6))
    for t in range(10):
        rows = [
            (start[t], "gray_r", 0, 1, f"{start_class[t]} ({start_conf[t]:.2f})"),
            (fooled.images[t], "gray_r", 0, 1, f"{t}: {fooled.confidence[t]:.3f}"),
            (
                change[t],
                "RdBu_r",
                -limit,
                limit,
                f"{fooled.iterations[t]} step" + ("" if fooled.iterations[t] == 1 else "s"),
            ),
        ]
        for r, (image, cmap, lo, hi, title) in enumerate(rows):
            ax = axes[r, t]
            ax.imshow(image.reshape(28, 28), cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(title, fontsize=8)
    for r, label in enumerate(
        ["start: noise\n(predicted, p)", "fooling image\n(target: p)", "change\n(red +, blue −)"]
    ):
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(
        "Fooling images: noise nudged by input gradients until the network gives the target "
        f"≥ {FOOL_GOAL:.0%}"
    )
    return fig
