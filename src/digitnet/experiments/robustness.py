"""``digitnet experiment robustness``: how test accuracy falls when the digits are moved, turned, resized
or their strokes made thicker or thinner.

Claim
-----
A fully connected network has no built-in notion that a digit moved by a few pixels is the same digit:
every pixel has its own weights. Its accuracy collapses under shifts of a few pixels and falls under
rotations and rescaling that a person would hardly notice. A convolutional network, whose filters are
shared across positions and followed by pooling, should lose much less: the experiment measures both.

Method
------
1. Train the usual 784-100-10 ReLU network through ``lab.train`` (quick mode: a small one), and a
   LeNet-5 style CNN (6 and 16 5x5 filters, 2x2 max-pooling, 120-84-10) for 8 epochs on the same images,
   neither trained on distorted digits (quick mode: 4 and 8 filters, 2 epochs).
2. Transform the 10,000 test digits (quick: the first 1,000) and measure the accuracy on each:

   * **shift** by 1-4 pixels right, left, down and up (zero fill); the curve is the mean over the
     four directions, each direction is recorded too;
   * **rotation** by ±10°, ±20°, ±30° about the centre of mass (positive: anticlockwise on screen);
   * **scale** by 0.7, 0.85, 1.15, 1.3 about the centre of mass;
   * **stroke width**: grey-level dilation (thicker, max over a k×k window) and erosion (thinner, min
     over it) with k = 2 and 3. The 2×2 window also moves the ink by half a pixel.

   Rotation and scale are affine maps about the point c = (14, 14), where MNIST puts each digit's centre
   of mass: the output pixel p samples the input at c + A⁻¹(p - c) by bilinear interpolation, and
   anything outside the 28×28 field reads as 0 (background): :func:`digitnet.imaging.warp.warp_about`.
   The same sampling grid serves the whole batch, so each transform of 10,000 digits is four NumPy
   gathers per chunk of images (well under a second). Every transform keeps the images 28×28 with
   pixels in [0, 1].

Expected time: 4 minutes on two idle cores (training dominates: 1.5 for the MLP, 2 for the CNN; the
transforms and their evaluation take a few seconds); quick mode about 15 seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from digitnet.experiments._shared_input import QUICK_TRAIN_SIZE, train_network, train_on_lab_data
from digitnet.experiments.lab import Lab, experiment
from digitnet.imaging.warp import warp_about
from digitnet.plots import new_figure, plt
from digitnet.training.config import TrainConfig

__all__ = [
    "TRANSFORMS",
    "Transform",
    "dilate",
    "erode",
    "robustness_table",
    "rotate",
    "run",
    "scale",
    "shift",
]

SIZE = 28  # MNIST images are 28 x 28
CENTRE = (
    14.0  # (row, column) where MNIST puts each digit's centre of mass: the mean over the test set is 14.0
)
SHIFTS = (1, 2, 3, 4)  # pixels
DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (rows, columns) per pixel
ANGLES = (-30, -20, -10, 10, 20, 30)  # degrees, positive anticlockwise
SCALES = (0.7, 0.85, 1.15, 1.3)  # > 1 enlarges
STROKES = (
    ("thinner (3×3 min)", "erode", 3),
    ("thinner (2×2 min)", "erode", 2),
    ("thicker (2×2 max)", "dilate", 2),
    ("thicker (3×3 max)", "dilate", 3),
)


# ----- the transforms: (N, 28, 28) in [0, 1] -> (N, 28, 28) in [0, 1] -------------------------------------


def shift(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Move every image ``rows`` pixels down and ``columns`` right (negative: up, left), filling with 0.

    Shape: (N, 28, 28) -> (N, 28, 28).
    """
    out = np.zeros_like(images)
    src_r, dst_r = _span(rows, images.shape[1])
    src_c, dst_c = _span(columns, images.shape[2])
    out[:, dst_r, dst_c] = images[:, src_r, src_c]
    return out


def _span(offset: int, size: int) -> tuple[slice, slice]:
    """Source and destination slices of a 1-D shift by ``offset`` (whole pixels) in a field of ``size``."""
    if abs(offset) >= size:
        return slice(0, 0), slice(0, 0)
    if offset >= 0:
        return slice(0, size - offset), slice(offset, size)
    return slice(-offset, size), slice(0, size + offset)


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """Turn every image by ``degrees`` anticlockwise (as seen on screen) about its centre of mass.

    With row offset di (down) and column offset dj (right), the output at (di, dj) reads the input at
    (cos θ di + sin θ dj, -sin θ di + cos θ dj): the rotation by -θ, as rows point down.
    Shape: (N, 28, 28) -> (N, 28, 28).
    """
    t = np.deg2rad(degrees)
    return warp_about(images, np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]), CENTRE)


def scale(images: np.ndarray, factor: float) -> np.ndarray:
    """Enlarge (``factor`` > 1) or shrink every image about its centre of mass. Shape kept."""
    if factor <= 0:
        raise ValueError(f"scale factor must be positive, got {factor!r}")
    return warp_about(images, np.eye(2) / factor, CENTRE)


def dilate(images: np.ndarray, k: int) -> np.ndarray:
    """Thicker strokes: each pixel becomes the maximum over a k×k window (0 beyond the edges). Shape kept."""
    return _window(images, k, np.maximum)


def erode(images: np.ndarray, k: int) -> np.ndarray:
    """Thinner strokes: each pixel becomes the minimum over a k×k window (0 beyond the edges). Shape kept."""
    return _window(images, k, np.minimum)


def _window(images: np.ndarray, k: int, combine: Callable) -> np.ndarray:
    """Combine the k² shifted copies of each image;
    window rows i - (k-1)//2 .. i + k//2 (likewise columns).
    """
    if k < 1:
        raise ValueError(f"window size must be a positive number of pixels, got {k!r}")
    n, h, w = images.shape
    before, after = (k - 1) // 2, k // 2
    padded = np.pad(images, ((0, 0), (before, after), (before, after)))  # (N, H + k - 1, W + k - 1)
    out = padded[:, :h, :w].copy()
    for a in range(k):
        for b in range(k):
            combine(out, padded[:, a : a + h, b : b + w], out=out)
    return out


@dataclass(frozen=True)
class Transform:
    """One transform of the table: its family ("shift", "rotation", ...), level and function."""

    family: str
    level: float | str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]


def _transforms() -> list[Transform]:
    table = [Transform("none", 0, "original", np.asarray)]
    for name, (dr, dc) in DIRECTIONS.items():
        table += [
            Transform(f"shift {name}", s, f"{s} px {name}", partial(shift, rows=s * dr, columns=s * dc))
            for s in SHIFTS
        ]
    table += [Transform("rotation", a, f"{a:+d}°", partial(rotate, degrees=a)) for a in ANGLES]
    table += [Transform("scale", f, f"scale ×{f}", partial(scale, factor=f)) for f in SCALES]
    ops = {"erode": erode, "dilate": dilate}
    table += [Transform("stroke", label, label, partial(ops[op], k=k)) for label, op, k in STROKES]
    return table


TRANSFORMS: list[Transform] = _transforms()
"""Every transform :func:`robustness_table` measures, the untouched original first."""


def robustness_table(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """The accuracy of ``model`` on ``images`` under every transform in :data:`TRANSFORMS`.

    Parameters
    ----------
    model : object with ``predict``
        ``model.predict(batch)`` takes (N, 28, 28) float32 images in [0, 1] and returns N class ids;
        a digitnet ``Sequential`` reshapes them to its own input shape (784,) or (1, 28, 28).
    images : ndarray
        Digits, (N, 28, 28) or (N, 784), pixels in [0, 1].
    labels : ndarray
        Their classes, (N,).

    Returns
    -------
    dict
        ``{"original": acc, "shift": {0: acc, 1: mean over the 4 directions, ...},
        "shift_by_direction": {"right": {1: acc, ...}, ...}, "rotation": {-30: acc, ..., 0: acc, ...},
        "scale": {0.7: acc, ..., 1.0: acc, ...}, "stroke": {"original": acc, "thinner (3×3 min)": acc, ...}}``
    """
    images = np.asarray(images, dtype=np.float32).reshape(len(images), SIZE, SIZE)  # (N, 784) -> (N, H, W)
    labels = np.asarray(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need matching, non-empty images and labels, got {len(images)} and {len(labels)}")
    acc = {t.label: float(np.mean(model.predict(t.apply(images)) == labels)) for t in TRANSFORMS}
    original = acc["original"]
    by_direction = {d: {s: acc[f"{s} px {d}"] for s in SHIFTS} for d in DIRECTIONS}
    return {
        "original": original,
        "shift": {
            0: original,
            **{s: float(np.mean([by_direction[d][s] for d in DIRECTIONS])) for s in SHIFTS},
        },
        "shift_by_direction": by_direction,
        "rotation": dict(sorted({0: original, **{a: acc[f"{a:+d}°"] for a in ANGLES}}.items())),
        "scale": dict(sorted({1.0: original, **{f: acc[f"scale ×{f}"] for f in SCALES}}.items())),
        "stroke": {"original": original, **{label: acc[label] for label, _, _ in STROKES}},
    }


def cnn_config(lab: Lab) -> TrainConfig:
    """The convolutional network compared: LeNet-5 style for 8 epochs, or a small one when quick."""
    config = TrainConfig(conv=((6,), (16,)), hidden=(120, 84), epochs=8, seed=lab.seed)
    if lab.quick:
        config = config.replace(conv=((4,), (8,)), hidden=(32,), epochs=2, train_size=QUICK_TRAIN_SIZE)
    return config


@experiment(
    "robustness", "accuracy of an MLP and a CNN on shifted, rotated, rescaled, thickened and thinned digits"
)
def run(lab: Lab) -> None:
    result, cnn = train_network(lab), train_on_lab_data(lab, cnn_config(lab))
    model = result.model
    n = 1_000 if lab.quick else len(lab.data.test)
    images, labels = lab.data.test.images[:n], lab.data.test.y[:n]
    table = robustness_table(model, images, labels)
    cnn_table = robustness_table(cnn.model, images, labels)

    lab.record(network=result.metrics, test_digits=n, accuracy=table, cnn=cnn.metrics, cnn_accuracy=cnn_table)
    lab.figure("robustness_curves", _curves(table, cnn_table))
    lab.figure("transform_gallery", _gallery(model, images, labels))

    lab.say("Claim: a fully connected network is fragile to small shifts, rotations and changes of size; a")
    lab.say("convolutional network, with filters shared across positions and pooling, much less so.")
    for name, metrics, t in (("MLP", result.metrics, table), ("CNN", cnn.metrics, cnn_table)):
        shifts, rot, sc, st = t["shift"], t["rotation"], t["scale"], t["stroke"]
        lab.say(
            f"{name} {metrics['architecture']}, accuracy on {n:,} untouched test digits {t['original']:.2%}."
        )
        lab.say(
            "  Shift (mean of right, left, down, up): "
            + ", ".join(f"{s} px {a:.1%}" for s, a in shifts.items())
            + "."
        )
        lab.say("  Rotation: " + ", ".join(f"{a:+d}° {v:.1%}" for a, v in rot.items()) + ".")
        lab.say("  Scale: " + ", ".join(f"×{f} {v:.1%}" for f, v in sc.items()) + ".")
        lab.say("  Stroke width: " + ", ".join(f"{k} {v:.1%}" for k, v in st.items()) + ".")
    lab.say(
        "Lesson: every pixel of the MLP has its own weights, so moving the ink to other pixels moves it past "
        "what the network learned; the CNN's shared, local filters see the moved stroke as the same stroke."
    )


def _curves(table: dict, cnn_table: dict):
    """Four panels: accuracy vs shift, rotation and scale, and bars for stroke width; MLP and CNN."""
    fig, axes = new_figure(11, 7.5, nrows=2, ncols=2)
    panels = [
        (axes[0, 0], "shift", "shift (pixels, mean of 4 directions)", "Shifted digits"),
        (axes[0, 1], "rotation", "rotation (degrees, + = anticlockwise)", "Rotated digits"),
        (axes[1, 0], "scale", "scale factor (1 = original size)", "Rescaled digits"),
    ]
    for ax, key, xlabel, title in panels:
        for t, name, style in ((table, "MLP", "o-"), (cnn_table, "CNN", "s--")):
            ax.plot(list(t[key]), 100 * np.array(list(t[key].values())), style, lw=2, label=name)
        ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title, xticks=list(table[key]))
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    names = list(table["stroke"])
    positions = np.arange(len(names))
    for offset, t, name in ((-0.2, table, "MLP"), (0.2, cnn_table, "CNN")):
        bars = ax.bar(positions + offset, 100 * np.array(list(t["stroke"].values())), width=0.4, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(positions, [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set(ylabel="test accuracy (%)", title="Thinner and thicker strokes")
    ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.set_ylim(0, 105)
    fig.suptitle("Accuracy on transformed test digits: fully connected network vs convolutional network")
    return fig


def _gallery(model, images: np.ndarray, labels: np.ndarray):
    """One test digit under a selection of the transforms, with the network's prediction for each."""
    digit = images[:1]  # (1, 28, 28): the first test digit
    chosen = [t for t in TRANSFORMS if t.family in ("none", "shift right", "rotation", "scale", "stroke")]
    shown = np.concatenate([t.apply(digit) for t in chosen])  # (T, 28, 28)
    predicted = model.predict(shown)
    columns = 10
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.45, rows * 2.0), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, t, image, p in zip(axes.flat, chosen, shown, predicted):
        ax.axis("on")
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():  # a frame shows where the 28×28 field ends
            spine.set_visible(True)
            spine.set_color("0.7")
        name = t.label.replace(" (", "\n(")  # "thicker\n(3×3 max)": fits one column
        ax.set_title(f"{name}\n→ {p}", fontsize=8, color="k" if p == labels[0] else "C3")
    fig.suptitle(
        f"One test digit (a {labels[0]}) under each transform, with the network's answer (red: wrong)"
    )
    return fig
