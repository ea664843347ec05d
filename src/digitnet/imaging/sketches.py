"""Digits drawn stroke by stroke with the page's pen, in the styles people write: a model writer.

Each digit has one or more *styles*, each a template of strokes in a unit box (x to the right, y down,
the digit 1 tall): the plain forms MNIST is full of, and the forms MNIST nearly lacks and networks
trained on it misread (:mod:`digitnet.imaging.styles`): a slashed zero, a 1 with a flag, a foot or
both, a closed (one-stroke) 4, a crossed 7, a 9 with a curled tail. :func:`sketch` makes one
*writer's* version of a template, every writer different:

* each control point moved by ``N(0, 0.035)`` of the height (a wobbly hand),
* the whole digit slanted by a shear slope in ``[-0.3, 0.3]``, turned by up to 8 degrees, made 0.75 to
  1.25 times as wide,
* drawn 110 to 220 pixels tall at a random place on the 280-pixel pad, with a pen 14 to 22 pixels wide
  (the page's default is 18);

and :func:`sketch_inputs` renders sketches with :func:`digitnet.imaging.pen.render_strokes` and prepares
them with :func:`digitnet.imaging.preprocess`, exactly as a drawing on the page reaches the network.

These are drawn by a program, not by people: a check that a network reads these styles at all, and data
to choose a reject threshold or a temperature on that is not MNIST; not a measure of how well it reads
people (for that, pen data from real writers). Shapes: a stroke is ``(P, 2)`` points ``(x, y)``.
"""

from __future__ import annotations

import math

import numpy as np

from digitnet.imaging.mnist_style import preprocess
from digitnet.imaging.pen import PAD, render_strokes

__all__ = ["SKETCH_STYLES", "sketch", "sketch_inputs"]


def _arc(cx, cy, rx, ry, start, stop, n=14):
    """Points on an ellipse from angle ``start`` to ``stop`` in degrees (0 right, 90 down). Shape (n, 2)."""
    t = np.radians(np.linspace(start, stop, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _line(*points):
    return np.array(points, dtype=np.float64)


def _join(*parts):
    return np.vstack(parts)


SKETCH_STYLES: dict[int, dict[str, list[np.ndarray]]] = {
    0: {
        "plain": [_arc(0.5, 0.5, 0.3, 0.5, -90, -450, 24)],
        "slashed": [_arc(0.5, 0.5, 0.3, 0.5, -90, -450, 24), _line((0.12, 1.02), (0.88, -0.02))],
    },
    1: {
        "plain": [_line((0.5, 0), (0.5, 1))],
        "flagged": [_line((0.22, 0.32), (0.5, 0), (0.5, 1))],
        "footed": [_line((0.5, 0), (0.5, 1)), _line((0.22, 1), (0.78, 1))],
        "flagged and footed": [_line((0.24, 0.3), (0.5, 0), (0.5, 1)), _line((0.22, 1), (0.78, 1))],
    },
    2: {"plain": [_join(_arc(0.5, 0.28, 0.32, 0.28, 200, 390), _line((0.12, 1), (0.9, 1)))]},
    3: {"plain": [_join(_arc(0.45, 0.25, 0.32, 0.25, -160, 90), _arc(0.45, 0.74, 0.36, 0.26, -90, 160))]},
    4: {
        "plain": [_line((0.32, 0), (0.08, 0.64), (0.9, 0.64)), _line((0.68, 0.04), (0.68, 1))],
        "closed": [_line((0.68, 1), (0.68, 0), (0.06, 0.66), (0.92, 0.66))],
    },
    5: {
        "plain": [
            _join(_line((0.26, 0.0), (0.22, 0.45)), _arc(0.46, 0.7, 0.34, 0.3, -130, 150)),
            _line((0.26, 0.0), (0.82, 0.0)),
        ]
    },
    6: {
        "plain": [
            _join(_line((0.72, 0.02), (0.42, 0.2), (0.24, 0.5)), _arc(0.5, 0.74, 0.28, 0.26, 180, 540, 20))
        ]
    },
    7: {
        "plain": [_line((0.1, 0), (0.9, 0), (0.42, 1))],
        "crossed": [_line((0.1, 0), (0.9, 0), (0.42, 1)), _line((0.38, 0.52), (0.9, 0.5))],
    },
    8: {
        "plain": [_join(_arc(0.5, 0.25, 0.26, 0.25, 90, 450, 18), _arc(0.5, 0.74, 0.31, 0.26, -90, 270, 18))]
    },
    9: {
        "plain": [_join(_arc(0.48, 0.27, 0.3, 0.27, 0, 360, 18), _line((0.78, 0.27), (0.74, 1)))],
        "curled": [
            _join(
                _arc(0.48, 0.27, 0.3, 0.27, 0, 360, 18),
                _line((0.78, 0.27), (0.76, 0.82)),
                _arc(0.56, 0.82, 0.2, 0.18, 0, 170, 8),
            )
        ],
    },
}
"""Digit -> style name -> the template's strokes in the unit box."""


def sketch(digit: int, style: str, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """One writer's version of a template: its strokes on the pad and the pen's width.

    Parameters
    ----------
    digit : int
        0 to 9.
    style : str
        One of ``SKETCH_STYLES[digit]``.
    rng : numpy.random.Generator
        The writer: every random choice comes from it.

    Returns
    -------
    strokes : list of numpy.ndarray
        Points ``(x, y)`` in pad pixels, each stroke (P, 2).
    width : float
        The pen's width in pixels.
    """
    if digit not in SKETCH_STYLES or style not in SKETCH_STYLES[digit]:
        known = ", ".join(SKETCH_STYLES.get(digit, {})) or "none: digits are 0 to 9"
        raise ValueError(f"no style {style!r} for digit {digit!r}; its styles: {known}")
    height = rng.uniform(110, 220)
    slope, turn, wide = rng.uniform(-0.3, 0.3), math.radians(rng.uniform(-8, 8)), rng.uniform(0.75, 1.25)
    cos, sin = math.cos(turn), math.sin(turn)
    strokes = []
    for template in SKETCH_STYLES[digit][style]:
        p = template + rng.normal(0, 0.035, template.shape)  # (P, 2) a wobbly hand
        x, y = (p[:, 0] - 0.5) * wide, p[:, 1] - 0.5  # about the box's centre
        x = x - slope * y  # slant: the top leans right for a positive slope
        x, y = cos * x - sin * y, sin * x + cos * y
        strokes.append(np.stack([x, y], axis=1) * height)  # (P, 2) in pixels, centred on 0
    allpoints = np.vstack(strokes)
    low, high = allpoints.min(axis=0), allpoints.max(axis=0)
    margin = 15  # keep the pen inside the pad
    offset = [
        rng.uniform(margin - lo, max(margin - lo, PAD - margin - hi))
        for lo, hi in zip(low, high, strict=True)
    ]
    return [s + offset for s in strokes], float(rng.uniform(14, 22))


def sketch_inputs(
    count: int, rng: np.random.Generator, styles: dict[int, list[str]] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Draw, render and prepare ``count`` sketches of each requested (digit, style), as the page would.

    Parameters
    ----------
    count : int
        Sketches per (digit, style), each by a new writer.
    rng : numpy.random.Generator
        The writers.
    styles : dict of int to list of str, optional
        Which styles of which digits; default every style of every digit in :data:`SKETCH_STYLES`.

    Returns
    -------
    inputs : numpy.ndarray
        The network's inputs, float32 in [0, 1].
    labels : numpy.ndarray
        The digits, int64.
    names : list of str
        Each sketch's style, e.g. ``"slashed"``.

    Shape
    -----
    inputs (N, 784), labels (N,), names N long, N = count * number of (digit, style) pairs.
    """
    chosen = styles if styles is not None else {d: list(s) for d, s in SKETCH_STYLES.items()}
    inputs, labels, names = [], [], []
    for digit, names_of_digit in chosen.items():
        for style in names_of_digit:
            for _ in range(count):
                strokes, width = sketch(digit, style, rng)
                picture = render_strokes(strokes, width=width)  # (280, 280) uint8, as the canvas
                inputs.append(preprocess(picture).input.reshape(-1))  # (28, 28) -> (784,)
                labels.append(digit)
                names.append(style)
    return np.array(inputs, dtype=np.float32).reshape(-1, 784), np.array(labels, dtype=np.int64), names
