"""Writing styles that MNIST lacks, drawn onto its digits: a bar through 0, a flag or foot on 1, ...

MNIST's writers were American census staff and students; people elsewhere write some digits with
strokes MNIST barely holds, and a network trained on MNIST reads them wrong with high confidence: a
slashed zero (Ø) as 8, a 1 with a flag or a foot as 7, 4 or 2, a crossed 7 as 2, a 9 whose tail curls
as 3 or 7. :func:`add_styles` draws those strokes onto training digits
of the right class, so the label stays true:

==========  ======================================================================================
``slash``   0: a straight bar through the ring, lower left to upper right, 50-70 degrees steep,
            reaching a little past the ring at both ends
``flag``    1: a short stroke down and to the left from the top of the stem (the continental 1)
``foot``    1: a horizontal base across the bottom of the stem
``cross``   7: a short horizontal bar across the stem, a little below half height
``curl``    9: the stem's end turned into a hook to the left
==========  ======================================================================================

Each stroke is placed from the digit's own ink (its box, the top and bottom of its stem, the stem's
column at a given height) with random proportions, and drawn as an anti-aliased line of the digit's
own stroke width (``2 * area / perimeter`` of its ink). A stroke that reaches past MNIST's 20-pixel box
is then fitted back, as MNIST fitted every digit: :func:`refit_matrices` gives the affine map that scales
the longer side of the ink's box to 20 and puts the centre of mass on pixel (14, 14), which
:class:`~digitnet.imaging.augment.Augment` composes with its own distortion, so the image is resampled
once.

Coordinates are ``(row, column)`` array indices, row 0 at the top, as in :mod:`digitnet.imaging.affine`.
Shapes: ``(H, W)`` one image, ``(N, H, W)`` a batch, ``(P, 2)`` a polyline of P points.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["STYLES", "add_styles", "draw_polyline", "refit_matrices", "style_strokes"]

STYLES: dict[int, tuple[str, ...]] = {
    0: ("slash",),
    1: ("flag", "foot"),
    7: ("cross",),
    9: ("curl",),
}
"""Digit -> the styles that can be drawn onto it. A 1 gets a flag, a foot, or both (see ``add_styles``)."""

INK = 0.5  # a pixel at or above this level is ink when the digit's geometry is measured
BOX = 20.0  # MNIST fitted each digit's longer side to 20 pixels ...
CENTRE = 14.0  # ... and put its centre of mass on pixel (14, 14)


def draw_polyline(image: np.ndarray, points: np.ndarray, width: float, level: float = 1.0) -> None:
    """Draw a polyline into ``image`` in place, anti-aliased, with round ends and joins.

    A pixel centre at distance ``d`` from the nearest segment gets ink
    ``level * clip(width / 2 + 1/2 - d, 0, 1)``: full inside the stroke, a one-pixel linear ramp across
    its edge (about the area of the pixel the edge covers); the image keeps the larger of its value and
    the stroke's.

    Parameters
    ----------
    image : numpy.ndarray
        Float pixels, ink bright on black; changed in place.
    points : numpy.ndarray
        The polyline's points as ``(row, column)``; one point draws a dot.
    width : float
        Stroke width in pixels, > 0.
    level : float, optional
        The ink's level, in (0, 1].

    Shape
    -----
    image (H, W), points (P, 2) with P >= 1.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # (P, 2)
    if len(pts) == 1:
        pts = np.vstack([pts, pts])  # a dot: one segment of length 0
    h, w = image.shape
    rows = np.arange(h, dtype=np.float64)[:, None, None]  # (H, 1, 1)
    cols = np.arange(w, dtype=np.float64)[None, :, None]  # (1, W, 1)
    a, b = pts[:-1], pts[1:]  # (S, 2) each: the segments' ends
    ab = b - a  # (S, 2)
    length2 = np.maximum((ab**2).sum(axis=1), 1e-12)  # (S,)
    # the projection of each pixel centre onto each segment, as a fraction t in [0, 1] of its length
    t = ((rows - a[:, 0]) * ab[:, 0] + (cols - a[:, 1]) * ab[:, 1]) / length2  # (H, W, S)
    np.clip(t, 0.0, 1.0, out=t)
    d2 = (rows - a[:, 0] - t * ab[:, 0]) ** 2 + (cols - a[:, 1] - t * ab[:, 1]) ** 2  # (H, W, S)
    distance = np.sqrt(d2.min(axis=2))  # (H, W): to the nearest segment
    stroke = level * np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)
    np.maximum(image, stroke.astype(image.dtype), out=image)


def stroke_width(image: np.ndarray) -> float:
    """The digit's mean stroke width in pixels, ``2 * area / perimeter`` of its ink, corrected by 4/pi.

    Counting the perimeter as pixel edges overestimates it by 4/pi on average over stroke directions.
    At least 1 pixel. Shape: (H, W) -> scalar.
    """
    on = np.pad(image >= INK, 1)  # (H + 2, W + 2)
    edges = np.count_nonzero(on[1:] != on[:-1]) + np.count_nonzero(on[:, 1:] != on[:, :-1])
    return max(1.0, 8 / math.pi * np.count_nonzero(on) / max(edges, 1))


def _stem_column(on: np.ndarray, row: int) -> float | None:
    """The mean column of the ink in ``row`` and its neighbours (None if none). ``on`` (H, W) bool."""
    band = on[max(row - 1, 0) : row + 2]  # (3, W) at most
    cols = np.flatnonzero(band.any(axis=0))
    return None if cols.size == 0 else float(cols.mean())


def style_strokes(image: np.ndarray, style: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The polylines that draw ``style`` onto this digit, placed from its ink; [] if it has too little ink.

    Shape: image (H, W) -> a list of (P, 2) arrays of ``(row, column)`` points.
    """
    on = image >= INK
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if rows.size < 4 or cols.size < 1:
        return []
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    height = bottom - top + 1
    u = rng.uniform
    if style == "slash":
        centre = np.array([(top + bottom) / 2, (left + right) / 2])
        angle = math.radians(u(50, 70))  # from the horizontal, rising to the right
        half = 0.5 * height / math.sin(angle) * u(1.0, 1.25)
        direction = np.array([-math.sin(angle), math.cos(angle)])  # (row, column): up and right
        return [np.array([centre - half * direction, centre + half * direction])]
    if style == "flag":
        col = _stem_column(on, top)
        tip = np.array([top + u(0.15, 0.35) * height, col - u(0.2, 0.4) * height])
        return [np.array([[top, col], tip])]
    if style == "foot":
        col = _stem_column(on, bottom)
        reach = u(0.2, 0.3) * height
        return [np.array([[bottom, col - reach], [bottom, col + reach * u(0.8, 1.2)]])]
    if style == "cross":
        row = int(round(top + u(0.45, 0.62) * height))
        col = _stem_column(on, row)
        if col is None:
            return []
        reach, tilt = u(0.18, 0.3) * height, u(-0.06, 0.06) * height
        return [np.array([[row + tilt, col - reach], [row - tilt, col + reach]])]
    if style == "curl":
        col = _stem_column(on, bottom)
        r = u(0.12, 0.2) * height  # the hook's radius; its circle's centre sits left of the stem
        turn = np.linspace(0, math.pi * u(0.8, 1.1), 8)  # (8,) from the stem, down, left and up
        hook = np.stack([bottom - 0.5 * r + r * np.sin(turn), col - r + r * np.cos(turn)], axis=1)  # (8, 2)
        return [hook]
    raise ValueError(
        f"unknown style {style!r}; choose one of {sorted({s for v in STYLES.values() for s in v})}"
    )


def add_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Draw a style stroke onto a random ``rate`` of the digits that have styles; the indices drawn on.

    For each image whose label is in :data:`STYLES`, with probability ``rate``: a style of its digit,
    chosen uniformly (a 1 gets a flag, a foot, or both, each a third of the time), drawn in place with
    the digit's own stroke width at its strongest ink level.

    Parameters
    ----------
    images : numpy.ndarray
        Float pixels in [0, 1], ink bright on black; changed in place.
    labels : numpy.ndarray
        Integer class of each image.
    rng : numpy.random.Generator
        The only source of randomness.
    rate : float
        Probability in [0, 1] that an eligible digit gets a style.

    Returns
    -------
    numpy.ndarray
        The indices of the images drawn on, increasing.

    Shape
    -----
    images (N, H, W), labels (N,) -> (M,) with M <= N.
    """
    labels = np.asarray(labels)
    eligible = np.isin(labels, list(STYLES))  # (N,)
    chosen = np.flatnonzero(eligible & (rng.random(len(labels)) < rate))  # (M,)
    for k in chosen:
        digit = int(labels[k])
        if digit == 1:
            styles = [("flag",), ("foot",), ("flag", "foot")][rng.integers(3)]
        else:
            styles = (STYLES[digit][rng.integers(len(STYLES[digit]))],)
        image = images[k]
        width, level = stroke_width(image), float(image.max())
        for style in styles:
            for line in style_strokes(image, style, rng):
                draw_polyline(image, line, width * rng.uniform(0.85, 1.15), level)
    return chosen


def refit_matrices(images: np.ndarray) -> np.ndarray:
    """Forward affine maps that fit each digit as MNIST did: longer side of its ink box at most 20 pixels
    (only shrunk, never enlarged), centre of mass on pixel (14, 14).

    ``p' = s (p - m) + (14, 14)`` with ``m`` the centre of mass and ``s = min(1, 20 / longest side)``,
    written as ``[s I | (14, 14) - s m]`` like :func:`~digitnet.imaging.affine.affine_matrices`.

    Shape: (N, H, W) -> (N, 2, 3) float64.
    """
    n, h, w = images.shape
    mass = images.sum(axis=(1, 2), dtype=np.float64)  # (N,)
    mass = np.where(mass > 0, mass, 1.0)
    m_row = images.sum(axis=2, dtype=np.float64) @ np.arange(h) / mass  # (N, H) @ (H,) -> (N,)
    m_col = images.sum(axis=1, dtype=np.float64) @ np.arange(w) / mass  # (N,)
    on = images >= INK  # (N, H, W)
    span_rows = _span(on.any(axis=2))  # (N,)
    span_cols = _span(on.any(axis=1))  # (N,)
    s = np.minimum(1.0, BOX / np.maximum(np.maximum(span_rows, span_cols), 1))  # (N,)
    out = np.zeros((n, 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = s
    out[:, 0, 2] = CENTRE - s * m_row
    out[:, 1, 2] = CENTRE - s * m_col
    return out


def _span(inked: np.ndarray) -> np.ndarray:
    """Number of lines from the first inked one to the last, inclusive. Shape: (N, L) bool -> (N,)."""
    any_ink = inked.any(axis=1)
    first = inked.argmax(axis=1)
    last = inked.shape[1] - 1 - inked[:, ::-1].argmax(axis=1)
    return np.where(any_ink, last - first + 1, 0)
