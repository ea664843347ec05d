"""``digitnet experiment reject``: an "I don't know" option by thresholding the network's confidence.

Claim
-----
Refusing to answer when the top softmax probability is low trades coverage for accuracy: the digits
the network is unsure of are where its mistakes are. But a confidence threshold does not recognise
inputs that are not digits at all: much random noise clears it.

Method
------
1. Train the usual 784-100-10 ReLU network through ``lab.train`` (quick mode: a small one).
2. Confidence c(x) = max_k softmax(z(x))_k, computed in float64 so values near 1 stay distinct.
   The network answers when c(x) >= t and says "I don't know" otherwise.
3. Choose t on the **validation** split: sort the validation digits by confidence, and take the
   smallest t (the largest coverage) at which the accuracy on the kept digits is at least
   ``TARGET`` = 99.5%; only thresholds between distinct confidences are considered, so ties are kept
   or rejected together. If no threshold reaches the target, the one with the best kept accuracy is
   used (the largest coverage among equals).
4. On the **test** split, report coverage = share kept and the accuracy on the kept digits at t, and
   the whole accuracy-versus-coverage curve as t varies. Then feed uniform noise (pixels U(0, 1),
   10,000 images; quick 1,000) and count how much of it clears t: noise should all be rejected.

Expected time: 1.5 minutes on two idle cores, up to 4 when they are shared (training dominates);
quick mode about 10 seconds.
"""

from __future__ import annotations

import numpy as np

from digitnet.experiments._shared_input import (
    confidence,
    confidence_histograms,
    nines,
    train_network,
    uniform_noise,
)
from digitnet.experiments.lab import Lab, experiment
from digitnet.plots import new_figure

__all__ = ["accuracy_coverage", "choose_threshold", "run"]

TARGET = 0.995  # accuracy wanted on the digits the network does answer
MARKED = (0.5, 0.9, 0.99, 0.999, 0.9999)  # thresholds tabulated in results.json for comparison


def accuracy_coverage(conf: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every threshold between distinct confidences, with the coverage and kept accuracy it gives.

    Keeping the k most confident examples, coverage_k = k / N and accuracy_k = (1/k) Σ_{i<=k} correct_i.
    Only k where the k-th and (k+1)-th confidences differ are returned (a threshold cannot split ties).

    Shape: conf (N,), correct (N,) bool -> thresholds (M,), coverage (M,), accuracy (M,), M <= N,
    thresholds decreasing, coverage increasing.
    """
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]  # (N,), decreasing
    kept = np.arange(1, len(conf) + 1)  # (N,): k
    accuracy = np.cumsum(correct[order]) / kept  # (N,)
    ends = np.append(sorted_conf[:-1] > sorted_conf[1:], True)  # (N,): last of each group of ties
    return sorted_conf[ends], kept[ends] / len(conf), accuracy[ends]


def choose_threshold(conf: np.ndarray, correct: np.ndarray, target: float = TARGET) -> float:
    """The smallest threshold whose kept examples reach ``target`` accuracy (see the module docstring).

    Shape: conf (N,), correct (N,) bool -> a float in (0, 1].
    """
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    if len(conf) == 0 or len(conf) != len(correct):
        raise ValueError(
            f"need matching, non-empty confidences and correctness, got {len(conf)}, {len(correct)}"
        )
    thresholds, _, accuracy = accuracy_coverage(conf, correct)
    good = np.flatnonzero(accuracy >= target)
    if len(good):
        return float(thresholds[good[-1]])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(thresholds[best[-1]])


@experiment(
    "reject", "an 'I don't know' confidence threshold: accuracy vs coverage, and noise that slips through"
)
def run(lab: Lab) -> None:
    result = train_network(lab)
    model = result.model
    val, test = lab.data.validation, lab.data.test

    conf_val, pred_val = confidence(model, val.x)
    t = choose_threshold(conf_val, pred_val == val.y)
    conf_test, pred_test = confidence(model, test.x)
    correct = pred_test == test.y
    kept = conf_test >= t
    noise = uniform_noise(lab.rng(1), 1_000 if lab.quick else 10_000)
    conf_noise, class_noise = confidence(model, noise)
    passed = conf_noise >= t

    def at(threshold, conf, right):
        keep = conf >= threshold
        return {"coverage": float(keep.mean()), "accuracy": float(right[keep].mean()) if keep.any() else None}

    table = {
        f"{m}": {"test": at(m, conf_test, correct), "noise_passing": float(np.mean(conf_noise >= m))}
        for m in MARKED
    }
    lab.record(
        network=result.metrics,
        target_accuracy=TARGET,
        threshold=t,
        threshold_nines=float(nines(t)),
        validation=at(t, conf_val, pred_val == val.y),
        test_accuracy_all=float(correct.mean()),
        test_coverage=float(kept.mean()),
        test_accuracy_kept=float(correct[kept].mean()),
        test_accuracy_rejected=float(correct[~kept].mean()) if (~kept).any() else None,
        test_errors_total=int((~correct).sum()),
        test_errors_kept=int((~correct & kept).sum()),
        noise_images=len(noise),
        noise_passing=int(passed.sum()),
        noise_passing_share=float(passed.mean()),
        noise_rejected_share=float(1 - passed.mean()),
        noise_passing_classes=np.bincount(class_noise[passed], minlength=10),
        at_thresholds=table,
        noise_max_confidence=float(conf_noise.max()),
        test_coverage_rejecting_all_noise=float(np.mean(conf_test > conf_noise.max())),
    )

    lab.figure("accuracy_coverage", _curve_figure(conf_val, pred_val == val.y, conf_test, correct, t))
    lab.figure("confidence_threshold", _histogram(conf_test, correct, conf_noise, t))

    lab.say(
        "Claim: rejecting low-confidence inputs buys accuracy at the cost of coverage, "
        "but is no noise filter."
    )
    lab.say(f"Network {result.metrics['architecture']}, test accuracy on all digits {correct.mean():.2%}.")
    lab.say(
        f"Threshold chosen on validation: t = {t:.6f} (smallest t with kept validation accuracy "
        f">= {TARGET:.1%}; validation coverage {np.mean(conf_val >= t):.1%})."
    )
    lab.say(
        f"Test at t: coverage {kept.mean():.1%} of digits answered, "
        f"accuracy on them {correct[kept].mean():.2%} (all digits: {correct.mean():.2%}); "
        f"{(~correct & kept).sum()} of {(~correct).sum()} errors remain."
    )
    lab.say(
        f"Uniform noise: {passed.mean():.1%} of {len(noise):,} images pass the threshold and get a digit "
        f"({1 - passed.mean():.1%} rejected), while {kept.mean():.1%} of real digits are kept."
    )
    lab.say(
        f"To reject every noise image t would have to exceed {conf_noise.max():.6f}, "
        f"the most confident noise image, which would keep only "
        f"{np.mean(conf_test > conf_noise.max()):.1%} of the test digits."
    )
    lab.say(
        "Lesson: high confidence is not a guarantee; "
        "the network was never taught what 'not a digit' looks like."
    )


def _curve_figure(conf_val, correct_val, conf_test, correct_test, t: float):
    """Accuracy on kept digits versus coverage, validation and test, with the chosen threshold marked."""
    fig, ax = new_figure(7.0, 4.4)
    for name, conf, right, style in [
        ("validation", conf_val, correct_val, "--"),
        ("test", conf_test, correct_test, "-"),
    ]:
        _, coverage, accuracy = accuracy_coverage(conf, right)
        ax.plot(100 * coverage, 100 * accuracy, style, label=f"{name} digits")
    keep = conf_test >= t
    coverage, accuracy = keep.mean(), correct_test[keep].mean()
    label = f"chosen t = {t:.4f}: test coverage {coverage:.1%}, accuracy {accuracy:.2%}"
    ax.plot(100 * coverage, 100 * accuracy, "o", color="C3", ms=8, label=label)
    ax.axhline(100 * TARGET, color="gray", lw=1, ls=":", label=f"target {TARGET:.1%} (on validation)")
    low = min(100 * correct_test.mean(), 100 * correct_val.mean()) - 1
    ax.set_ylim(max(low, 0), 100.2)
    ax.set_xlim(0, 101)
    ax.set_xlabel("coverage: share of digits answered (%)")
    ax.set_ylabel("accuracy on answered digits (%)")
    ax.set_title('Saying "I don\'t know": accuracy vs coverage as the confidence threshold varies')
    ax.legend(loc="lower left", fontsize=8)
    return fig


def _histogram(conf_test, correct, conf_noise, t: float):
    """Confidence histograms of right and wrong test digits and of noise, with the threshold line."""
    fig, ax = new_figure(7.5, 4.4)
    groups = [
        (conf_test[correct], f"test digits, right ({correct.sum():,})"),
        (conf_test[~correct], f"test digits, wrong ({(~correct).sum():,})"),
        (conf_noise, f"uniform noise ({len(conf_noise):,})"),
    ]
    line_label = f"threshold t = {t:.4f}: reject left of it"
    confidence_histograms(ax, groups, line=t, line_label=line_label, line_width=1.2)
    ax.set_title("Confidence of right and wrong digits and of noise, with the reject threshold")
    ax.legend(loc="upper right", fontsize=8)
    return fig
