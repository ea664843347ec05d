"""The drawing page's pen, in Python: strokes rendered as the page's canvas renders them.

The page (``digitnet serve``) draws on a 280x280 white canvas with a round black pen, 18 pixels wide
by default: each stroke is a polyline through the pointer's positions, with round caps and joins
(``lineCap = lineJoin = "round"``), and a stroke of one point is a dot. The canvas, sent as a PNG, is
what the network's preprocessing reads. :func:`render_strokes` draws the same strokes into the same
picture here, so that digits given as strokes (a pen-tablet data set, the test sets of writing styles)
reach the network exactly as a drawing on the page does; a browser test holds the two equal.

**Coverage.** A canvas fills each pixel by the share of its area that the stroke covers. A stroke of
width ``w`` is the set of points within ``w / 2`` of its polyline; for a pixel whose centre lies at
distance ``d`` from the polyline, the covered share is close to ``clip(w / 2 + 1/2 - d, 0, 1)``: exact
for a straight edge crossing the pixel parallel to a side, and within a few percent at other angles.
Ink of coverage ``a`` over white paper gives grey ``255 (1 - a)``, rounded to a byte as the canvas does.

Coordinates are the canvas's: ``(x, y)`` in pixels, x to the right and y down, pixel ``(row i, column
j)`` covering ``[j, j + 1] x [i, i + 1]``, so its centre is at ``(j + 1/2, i + 1/2)``.
Shapes: a stroke is ``(P, 2)`` points ``(x, y)``; the picture is ``(H, W)`` uint8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["BRUSH", "PAD", "render_strokes"]

PAD = 280
"""The page's canvas: 280x280 pixels, ten canvas pixels to one of MNIST's 28."""

BRUSH = 18
"""The page's default pen width in canvas pixels (its brush slider runs from 8 to 40)."""


def render_strokes(
    strokes: Sequence[np.ndarray | Sequence[Sequence[float]]], *, width: float = BRUSH, size: int = PAD
) -> np.ndarray:
    """Draw strokes with a round pen, black on white, as the page's canvas does.

    Parameters
    ----------
    strokes : sequence of array_like
        Each stroke's points ``(x, y)`` in canvas pixels, in the order drawn; one point draws a dot.
    width : float, optional
        The pen's width in pixels, > 0 (default :data:`BRUSH`).
    size : int, optional
        The canvas's side in pixels (default :data:`PAD`).

    Returns
    -------
    numpy.ndarray
        The canvas as uint8 grey levels, 255 paper and 0 full ink.

    Raises
    ------
    ValueError
        If a stroke is empty or not made of finite ``(x, y)`` pairs, or ``width`` is not positive.

    Shape
    -----
    each stroke (P, 2) with P >= 1 -> (size, size).
    """
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise ValueError(f"width must be a positive number of pixels, not {width!r}")
    ink = np.zeros((size, size), dtype=np.float64)  # (H, W) coverage in [0, 1]
    radius = width / 2
    for k, stroke in enumerate(strokes):
        points = np.asarray(stroke, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0 or not np.isfinite(points).all():
            raise ValueError(
                f"stroke {k} must be a non-empty list of finite (x, y) points, got {points.shape}"
            )
        if len(points) == 1:
            points = np.vstack([points, points])  # a dot: a segment of length 0 has round caps
        for a, b in zip(points[:-1], points[1:], strict=True):
            _segment(ink, a, b, radius)
    return np.round(255 * (1 - ink)).astype(np.uint8)


def _segment(ink: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    """Add one round-capped segment from ``a`` to ``b`` to the coverage ``ink``, in place (the union of
    strokes keeps each pixel's largest coverage). Only the pixels within ``radius + 1`` of the segment's
    box are looked at. Shape: ink (H, W), a and b (2,) as (x, y)."""
    h, w = ink.shape
    reach = radius + 1
    left, right = max(int(min(a[0], b[0]) - reach), 0), min(int(max(a[0], b[0]) + reach) + 1, w)
    top, bottom = max(int(min(a[1], b[1]) - reach), 0), min(int(max(a[1], b[1]) + reach) + 1, h)
    if left >= right or top >= bottom:
        return  # wholly outside the canvas
    x = np.arange(left, right, dtype=np.float64) + 0.5  # (w',) pixel centres
    y = np.arange(top, bottom, dtype=np.float64)[:, None] + 0.5  # (h', 1)
    ab = b - a  # (2,)
    length2 = float(ab @ ab)
    t = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length2 if length2 > 0 else np.zeros((1, 1))
    t = np.clip(t, 0.0, 1.0)  # (h', w'): the nearest point of the segment, as a share of its length
    distance = np.hypot(x - a[0] - t * ab[0], y - a[1] - t * ab[1])  # (h', w')
    cover = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    window = ink[top:bottom, left:right]
    np.maximum(window, cover, out=window)
