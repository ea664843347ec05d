"""How well each model reads drawn digits, and what saying "not sure" catches: the README's figures.

For every model named (default: the bundled ones) it prints, on MNIST's 10,000 test digits, on the
pen digits of the 10 validation writers (UCI pen digits, writers 21-30, drawn with the page's pen) and on
the program's sketches of every writing style:

* the accuracy, and for the sketches the accuracy per style (slashed 0, flagged 1, crossed 7, ...);
* at the model's recorded "not sure" threshold (``digitnet calibrate``): the share of answers given, of
  the wrong answers caught, of the right answers set aside, and of the wrong answers above 0.9;
* on MNIST, the recall of 2, 4, 7 and 8, the digits the new strokes resemble;
* a second opinion: answering only when two models agree (and each clears its threshold), for each
  pair of models, on the same digits.

With ``--figure FILE`` it also draws the training augmentation: MNIST digits and the same digits with the
writing styles drawn on (slashed 0, flagged and footed 1, crossed 7, curled 9), then distorted as the
``styles`` augmentation distorts them.

    DIGITNET_DATA=../shared/data/mnist python benchmarks/drawn_digits.py
    DIGITNET_DATA=../shared/data/mnist python benchmarks/drawn_digits.py --figure docs/training_styles.png

The pen digits are downloaded on first use (or read from ``$DIGITNET_PENDIGITS``). Accuracies do not
depend on the CPU beyond the last digit; the figures name it anyway.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from digitnet.confidence import calibrated_probabilities, recorded_min_confidence
from digitnet.data import load_mnist
from digitnet.data.drawn import drawn_digits
from digitnet.imaging.sketches import SKETCH_STYLES, sketch_inputs
from digitnet.modelfile import load_model
from digitnet.models import bundled_models
from digitnet.report.build import REJECT_SEED as REPORT_SEED  # the report's sketch writers, not calibrate's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model files (default: the bundled models)")
    parser.add_argument("--figure", type=Path, help="also draw the training augmentation into this PNG")
    args = parser.parse_args()
    paths = {Path(p).stem: Path(p) for p in args.models} or bundled_models()
    loaded = {name: load_model(path) for name, path in paths.items()}

    from speed import cpu_model  # beside this file

    print(f"CPU: {cpu_model()}\n")
    test = load_mnist(validation_size=0, progress=False).test
    pen_x, pen_y, pen_described = drawn_digits("pendigits", progress=False)
    sketch_x, sketch_y, names = sketch_inputs(30, np.random.default_rng(REPORT_SEED))
    names = np.array(names)
    sets = {
        "MNIST test": (test.x, test.y.astype(np.int64)),
        "pen digits": (pen_x, pen_y),
        "sketches": (sketch_x, sketch_y),
    }
    print(f"pen digits: {pen_described}; sketches: {len(sketch_y)} in every style (seed {REPORT_SEED})\n")
    probabilities = {
        (model, data): calibrated_probabilities(m.model, x, float(m.metrics.get("temperature", 1.0)))
        for model, m in loaded.items()
        for data, (x, _) in sets.items()
    }
    columns = ("accuracy", "answers", "caught", "set aside", "wrong>0.9")
    header = f"{'model':10s} {'digits':11s} " + " ".join(f"{c:>8s}" for c in columns)
    print(header + "\n" + "-" * len(header))
    for (model, data), p in probabilities.items():
        y = sets[data][1]
        threshold = recorded_min_confidence(loaded[model].metrics)
        print(f"{model:10s} {data:11s} " + _row(p, y, threshold))
    print("\nMNIST test recall of the digits the new strokes resemble (slashed 0 ~ 8, flagged 1 ~ 4 or 7)")
    for model in loaded:
        right = probabilities[(model, "MNIST test")].argmax(axis=1) == sets["MNIST test"][1]
        y = sets["MNIST test"][1]
        print(f"{model:10s} " + "  ".join(f"{d}: {100 * right[y == d].mean():.2f}%" for d in (2, 4, 7, 8)))
    print("\nstyles (sketches): accuracy per style")
    styles = [(d, s) for d in SKETCH_STYLES for s in SKETCH_STYLES[d] if s != "plain"]
    print(f"{'model':10s} " + " ".join(f"{d} {s[:10]:>10s}" for d, s in styles) + "   plain")
    for model in loaded:
        p = probabilities[(model, "sketches")]
        right = p.argmax(axis=1) == sketch_y
        cells = [f"{100 * right[(sketch_y == d) & (names == s)].mean():12.1f}" for d, s in styles]
        print(f"{model:10s} " + " ".join(cells) + f"   {100 * right[names == 'plain'].mean():.1f}")
    print("\nsecond opinion: answer only when both models clear their thresholds and agree")
    print(header.replace("model     ", "pair      "))
    for a, b in itertools.combinations(loaded, 2):
        for data in ("pen digits", "MNIST test"):
            y = sets[data][1]
            pa, pb = probabilities[(a, data)], probabilities[(b, data)]
            agree = pa.argmax(axis=1) == pb.argmax(axis=1)
            sure = (pa.max(axis=1) >= recorded_min_confidence(loaded[a].metrics)) & (
                pb.max(axis=1) >= recorded_min_confidence(loaded[b].metrics)
            )
            print(f"{a + '+' + b:10s} {data:11s} " + _row(pa, y, None, answered=agree & sure))
    if args.figure:
        _figure(args.figure)
        print(f"\nwrote {args.figure}")


def _row(p: np.ndarray, y: np.ndarray, threshold: float | None, answered: np.ndarray | None = None) -> str:
    confidence, right = p.max(axis=1), p.argmax(axis=1) == y
    if answered is None:
        answered = confidence >= threshold
    wrong = ~right
    caught = (~answered[wrong]).mean() if wrong.any() else 1.0
    aside = (~answered[right]).mean() if right.any() else 0.0
    sure_wrong = (confidence[wrong] > 0.9).mean() if wrong.any() else 0.0
    return (
        f"{100 * right.mean():7.2f}% {100 * answered.mean():7.1f}% {100 * caught:6.1f}% "
        f"{100 * aside:8.1f}% {100 * sure_wrong:8.1f}%"
    )


def _figure(path: Path) -> None:
    from digitnet.imaging.augment import AUGMENTATIONS, Augment
    from digitnet.plots import new_figure, save_figure

    train = load_mnist(progress=False).train
    rng = np.random.default_rng(0)
    rows = []
    for digit in (0, 1, 7, 9):
        picked = np.flatnonzero(train.y == digit)[:8]
        x, y = train.x[picked], train.y[picked].astype(np.int64)
        styled = Augment(shift=0, rotation=0, scale=0, shear=0, elastic_alpha=0, styles=1.0)(x, rng, labels=y)
        distorted = AUGMENTATIONS["styles"](x, rng, labels=y)
        rows += [(f"MNIST {digit}s", x), ("styles drawn on", styled), ("as trained (30% styled)", distorted)]
    fig, axes = new_figure(8, 1.05 * len(rows), nrows=len(rows), ncols=8)
    for r, (title, images) in enumerate(rows):
        for c in range(8):
            axes[r, c].imshow(images[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
