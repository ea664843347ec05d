"""Turn a photo, scan or drawing of one handwritten digit into the 28x28 input an MNIST network expects.

A network trained on MNIST only recognises digits that look like MNIST's, so this module repeats the
steps that made MNIST (LeCun et al., 1998), in order:

1. **Grayscale**, with any transparency composited onto a backdrop (:func:`to_ink`).
2. **Polarity**: MNIST has bright ink on black; dark ink on light paper is inverted.
3. **Background removal**: the paper's level, fitted as a smooth surface to the image's outer frame so
   uneven lighting goes too, is subtracted and the strongest ink rescaled to 1.
4. **Crop** to the ink's bounding box.
5. **Fit** the longer side to 20 pixels keeping the aspect ratio, anti-aliased; very thin strokes are
   thickened first so they do not fade to a grey hairline.
6. **Centre** in a 28x28 field so the centre of mass lands on pixel (14, 14), MNIST's own convention.

The CLI's ``predict`` and the drawing web app both call :func:`preprocess`; there is one implementation.

Shapes: ``(H, W)`` is the input's resolution, ``(h, w)`` the ink's bounding box in it, ``(h', w')``
the fitted digit (``max(h', w') == 20``). Coordinates are array indices: row 0 is the top, and pixel
``(i, j)`` has its centre at ``(i, j)``. Every array returned is float32 with ink in ``(0, 1]`` on 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitnet.errors import ImageError
from digitnet.imaging.blur import blur
from digitnet.imaging.ink import INK_PERCENTILE, load_image, one_shade, source_prefix, to_ink

__all__ = ["Preprocessed", "preprocess", "preprocess_file"]
FIELD = 28  # MNIST's canvas, in pixels
BOX = 20  # MNIST scaled each digit so its longer side is 20 pixels
CENTRE = 14.0  # where MNIST's centre of mass sits: the mean over its 70,000 digits is (14.0, 14.0)
MIN_STROKE = 1.5  # strokes thinner than this many fitted pixels are thickened (MNIST: 5% are thinner)
TARGET_STROKE = 2.3  # ... to MNIST's median stroke width, in fitted pixels
SUPERSAMPLE = 4  # thickening works at 4x the fitted resolution, then box-filters down (anti-aliasing)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare or hash
class Preprocessed:
    """Every stage of :func:`preprocess`, so a caller can show the steps or explain a prediction.

    Attributes
    ----------
    ink : numpy.ndarray
        The image as ink in ``[0, 1]``, bright on black, background removed, at the input's resolution.
    box : tuple of int
        ``(top, left, bottom, right)`` of the ink in ``ink``; bottom and right are exclusive.
    cropped : numpy.ndarray
        ``ink[top:bottom, left:right]``.
    fitted : numpy.ndarray
        The cropped ink resampled so its longer side is exactly 20, aspect ratio kept, anti-aliased,
        strongest ink at 1.
    input : numpy.ndarray
        What the network sees: ``fitted`` pasted into a 28x28 black field with its centre of mass on
        pixel (14, 14), rounded to whole pixels (so within half a pixel of it).
    inverted : bool
        True when the source was dark ink on light paper and was inverted.

    Shape
    -----
    ink ``(H, W)``, cropped ``(h, w)``, fitted ``(h', w')`` with ``max(h', w') == 20``, input
    ``(28, 28)``; all float32.
    """

    ink: np.ndarray
    box: tuple[int, int, int, int]
    cropped: np.ndarray
    fitted: np.ndarray
    input: np.ndarray
    inverted: bool


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, left, bottom, right)`` of the nonzero pixels, bottom and right exclusive; None if none."""
    rows = np.flatnonzero(ink.any(axis=1))  # (H,) -> indices of inked rows
    cols = np.flatnonzero(ink.any(axis=0))  # (W,) -> indices of inked columns
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample with Pillow in float mode: BOX (area average) to shrink, LANCZOS to enlarge."""
    shrinking = max(height, width) < max(a.shape)
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.LANCZOS
    out = Image.fromarray(a.astype(np.float32)).resize((width, height), resample)  # mode "F"
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _stroke_width(a: np.ndarray) -> float:
    """Mean stroke width in pixels, ``(4 / pi) * 2 * area / perimeter`` of the ink at >= 1/2.

    A stroke of width s and length l has area s l and perimeter about 2 l; counting the perimeter
    as pixel edges overestimates it by 4/pi on average over stroke directions, hence the factor.
    """
    on = np.pad(a >= 0.5, 1)  # (h+2, w+2)
    edges = np.count_nonzero(on[1:] != on[:-1]) + np.count_nonzero(on[:, 1:] != on[:, :-1])
    return 0.0 if edges == 0 else 8 / math.pi * np.count_nonzero(on) / edges


def _thicken(cropped: np.ndarray, width: float) -> np.ndarray:
    """Redraw thin strokes ``TARGET_STROKE`` fitted pixels wide, at 4x the fitted resolution.

    The crop is resampled so its longer side is 80 (4 x 20), blurred with a Gaussian, and the blur
    mapped back to ink through a soft threshold: ``clip((b / peak - 0.2) / 0.4, 0, 1)``, where peak is
    the blur's level along a stroke. A line blurred to a total deviation ``sigma`` crosses the
    threshold's midpoint (0.4 peak) at ``+-1.35 sigma``, so ``sigma = TARGET / 2.71``. Blurring first
    makes a faint, unevenly sampled hairline come out as an even stroke.

    Parameters
    ----------
    cropped : numpy.ndarray
        The ink's bounding box.
    width : float
        Its stroke width, in fitted pixels.

    Shape: ``(h, w)`` -> ``(h'', w'')``, about 80 plus the added width on the longer side.
    """
    scale = SUPERSAMPLE * BOX / max(cropped.shape)
    h, w = (max(1, round(n * scale)) for n in cropped.shape)
    fine = _resize(cropped, h, w)  # (h, w) with the longer side 80
    sigma_total = TARGET_STROKE * SUPERSAMPLE / 2.71
    sigma = math.sqrt(max(sigma_total**2 - (width * SUPERSAMPLE) ** 2 / 12, 0.25))
    fine = np.pad(fine, math.ceil(3 * sigma))  # room for the strokes to grow
    blurred = blur(fine, sigma)
    strong = blurred[blurred > 0.3 * blurred.max()]
    peak = float(np.percentile(strong, 90))  # along a stroke, ignoring crossings and ends
    thick = np.clip((blurred / peak - 0.2) / 0.4, 0.0, 1.0).astype(np.float32)
    top, left, bottom, right = _ink_box(thick)
    return thick[top:bottom, left:right]


def _fit(cropped: np.ndarray) -> np.ndarray:
    """Scale the longer side to 20 keeping the aspect ratio; strongest ink (98th pct.) to 1.

    Shape: ``(h, w)`` -> ``(h', w')`` with ``max(h', w') == 20``.
    """
    width = _stroke_width(cropped) * BOX / max(cropped.shape)  # in fitted pixels
    if width < MIN_STROKE:
        cropped = _thicken(cropped, width)
    scale = BOX / max(cropped.shape)
    h, w = (max(1, min(BOX, round(n * scale))) for n in cropped.shape)
    fitted = _resize(cropped, h, w)
    strongest = float(np.percentile(fitted[fitted > 0], INK_PERCENTILE))
    return np.clip(fitted / strongest, 0.0, 1.0).astype(np.float32)


def _centre(fitted: np.ndarray) -> np.ndarray:
    """Paste into a 28x28 field, shifted by whole pixels so the centre of mass is nearest (14, 14).

    Ink shifted past the field's edge is cut off (only a digit whose mass sits in the first 6 rows
    or columns of its box can reach it). Shape: ``(h', w')`` -> ``(28, 28)``.
    """
    h, w = fitted.shape
    mass = float(fitted.sum())
    cy = float(fitted.sum(axis=1) @ np.arange(h)) / mass  # (h',) . (h',) -> row of the mass centre
    cx = float(fitted.sum(axis=0) @ np.arange(w)) / mass  # (w',) . (w',) -> its column
    top, left = math.floor(CENTRE - cy + 0.5), math.floor(CENTRE - cx + 0.5)
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    y0, y1 = max(top, 0), min(top + h, FIELD)
    x0, x1 = max(left, 0), min(left + w, FIELD)
    field[y0:y1, x0:x1] = fitted[y0 - top : y1 - top, x0 - left : x1 - left]
    return field


def preprocess(image: Image.Image | np.ndarray, *, name: str | None = None) -> Preprocessed:
    """Make the network's 28x28 input from an image of one digit, the way MNIST was made.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        Any PIL mode, or an array as :func:`to_ink` takes; a 28x28 or 784 MNIST digit passes through
        nearly unchanged.
    name : str, optional
        Named in error messages, e.g. the file the image came from.

    Returns
    -------
    Preprocessed
        Every stage; ``.input`` is what the network sees.

    Shape
    -----
    image ``(H, W, ...)`` -> input ``(28, 28)`` float32; flatten to ``(784,)`` for a dense network.

    Raises
    ------
    ImageError
        The image holds no ink: it is all one shade (blank, or ink with no paper around it), or its marks
        are too faint; or it is malformed.

    Examples
    --------
    >>> import numpy as np
    >>> page = np.full((300, 200), 255, dtype=np.uint8)  # white paper
    >>> page[60:240, 90:110] = 0                          # a black "1"
    >>> result = preprocess(page)
    >>> result.input.shape, result.inverted, result.fitted.shape[0]
    ((28, 28), True, 20)
    """
    ink, inverted = to_ink(image, name=name)
    box = _ink_box(ink)
    if box is None:
        del ink  # all zeros, as large as the image
        raise ImageError(_no_ink(image, name))
    top, left, bottom, right = box
    cropped = ink[top:bottom, left:right]  # (h, w)
    fitted = _fit(cropped)  # (h', w')
    return Preprocessed(ink, box, cropped, fitted, _centre(fitted), bool(inverted))


def _no_ink(image: Image.Image | np.ndarray, name: str | None) -> str:
    """Why :func:`to_ink` found no ink, and what to do: an image all of one shade is blank or all ink (a digit
    cropped inside its strokes, which needs a margin of paper); otherwise its marks are too faint."""
    where = f"{source_prefix(name)}the image holds no ink to recognise"
    level = one_shade(image, name=name)
    if level is None:
        return (
            f"{where}: its marks are too faint (or the image too noisy) to tell from the paper; give an "
            "image of one digit, dark on light paper or light on dark."
        )
    tone = "dark " if level < 0.25 else "light " if level > 0.75 else ""
    return (
        f"{where}: it is all one {tone}shade, so it is blank (or its marks are very faint), or it shows a "
        "digit cropped so tight that its ink fills the whole image with no paper around it. Give an image "
        "of one digit with a margin of paper around it, dark on light paper or light on dark."
    )


def preprocess_file(path: str | os.PathLike) -> Preprocessed:
    """:func:`load_image` then :func:`preprocess`, with the file named in any error."""
    return preprocess(load_image(path), name=str(path))
