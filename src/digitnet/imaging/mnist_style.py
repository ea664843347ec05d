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
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitnet.errors import ImageError

__all__ = ["Preprocessed", "load_image", "preprocess", "preprocess_file", "to_ink"]

FIELD = 28  # MNIST's canvas, in pixels
BOX = 20  # MNIST scaled each digit so its longer side is 20 pixels
CENTRE = 14.0  # where MNIST's centre of mass sits: the mean over its 70,000 digits is (14.0, 14.0)
FRAME = 1 / 32  # width of the outer frame that samples the paper, as a fraction of the shorter side
FRAME_SAMPLES = 20_000  # plenty to fit the paper's 6 coefficients
NOISE_SAMPLES = 100_000  # enough pixels for a steady median of the paper's noise
NOISE_SIGMAS = 3.0  # paper within this many noise deviations of its fitted level is background
MIN_CONTRAST = 0.1  # ink must differ from the paper by 10% of full scale (and by 6 noise deviations)
MIN_INK = 0.05  # after rescaling, ink fainter than this is paper texture or compression noise
INK_PERCENTILE = 98.0  # "strongest ink" is this percentile, not the maximum, so one hot pixel can't set it
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


def load_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file with Pillow, turned upright by its EXIF orientation tag (phone photos).

    Parameters
    ----------
    path : str or path-like
        Any format Pillow reads: PNG, JPEG, GIF (first frame), BMP, TIFF, WebP, ...

    Returns
    -------
    PIL.Image.Image
        The decoded image, fully loaded, in the file's own mode.

    Raises
    ------
    ImageError
        The file is missing, is a folder, is not an image, or is truncated or corrupt.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ImageError(f"{path}: no such file; check the path and the spelling.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image; name an image file inside it.")
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise ImageError(
            f"{path}: not an image file Pillow can read; give a PNG, JPEG, BMP, GIF, TIFF or WebP."
        ) from None
    except (OSError, EOFError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError) as e:
        raise ImageError(
            f"{path}: could not decode the image ({e}); the file may be truncated or corrupt, "
            "so save or export it again."
        ) from e


def _prefix(name: str | None) -> str:
    return f"{name}: " if name else "image: "


def _pixels(image: Image.Image | np.ndarray, name: str | None) -> np.ndarray:
    """The raw pixel array of a PIL image or an array, before any scaling."""
    if isinstance(image, np.ndarray):
        return image
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a NumPy array, got {type(image).__name__}")
    if image.mode == "F":
        a = np.asarray(image)  # (H, W) float32
        # Pillow's own convert("F") keeps the 0..255 scale; values in [0, 1] are taken as they are.
        return a / np.float32(255) if np.isfinite(a).all() and a.max() > 1 else a
    if image.mode.startswith("I") or image.mode in ("1", "L"):
        return np.asarray(image)  # (H, W): integer or bool, scaled by _to_unit
    target = "RGBA" if image.has_transparency_data else "RGB"
    try:
        return np.asarray(image.convert(target))  # (H, W, 4) or (H, W, 3) uint8
    except ValueError:
        raise ImageError(
            f"{_prefix(name)}Pillow cannot convert mode {image.mode!r} to {target}; "
            "save the image as an ordinary RGB or grayscale PNG."
        ) from None


def _to_unit(a: np.ndarray, name: str | None) -> np.ndarray:
    """Scale an array of any supported dtype to float32 in [0, 1]."""
    where = _prefix(name)
    if a.dtype == bool:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return np.multiply(a, np.float32(1 / 255), dtype=np.float32)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 65535:
            raise ImageError(f"{where}integer pixels must lie in 0..255 (or 0..65535), got {lo}..{hi}")
        sixteen_bit = a.dtype == np.uint16 or hi > 255  # uint16, or 16-bit data in a wider type
        return np.multiply(a, np.float32(1 / (65535 if sixteen_bit else 255)), dtype=np.float32)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError(f"{where}the pixel array holds NaN or infinite values; replace them")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:  # the tolerance lets rounding error through
            raise ImageError(
                f"{where}float pixels must lie in [0, 1], got {lo:g}..{hi:g}; "
                "divide 0-255 data by 255 or pass it as uint8"
            )
        return np.clip(a, 0.0, 1.0).astype(np.float32)
    raise ImageError(f"{where}unsupported pixel dtype {a.dtype}; use uint8, uint16, bool or float")


def _backdrop(gray: np.ndarray, alpha: np.ndarray) -> float:
    """The grey that transparent pixels become, chosen so the strokes stay visible.

    A mostly transparent image (mean alpha below 1/2) is a canvas with strokes on it: the backdrop
    contrasts with the strokes' median grey (white behind dark strokes, black behind light ones). A
    mostly opaque image has its own paper, and the backdrop is the paper's median grey.
    """
    opaque = gray[alpha >= 0.5]
    if opaque.size == 0:
        return 1.0
    median = float(np.median(opaque))
    if float(alpha.mean()) >= 0.5:
        return median
    return 0.0 if median >= 0.5 else 1.0


def _grayscale(image: Image.Image | np.ndarray, name: str | None) -> np.ndarray:
    """Luma in [0, 1] (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), transparency composited."""
    a = _pixels(image, name)
    if a.ndim == 1 and a.size == FIELD * FIELD:
        a = a.reshape(FIELD, FIELD)  # (784,) -> (28, 28), MNIST's row-major order
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        channels = a.shape[-1]
    elif a.ndim == 2:
        channels = 1
        a = a[..., None]  # (H, W) -> (H, W, 1)
    else:
        raise ImageError(
            f"{_prefix(name)}pixel array has shape {a.shape}; expected (H, W), (H, W, C) with C "
            f"in 1..4, or (784,)"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"{_prefix(name)}the image is empty (shape {a.shape})")
    a = _to_unit(a, name)  # (H, W, C)
    if channels >= 3:
        gray = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114  # (H, W)
    else:
        gray = a[..., 0]
    if channels in (2, 4):
        alpha = a[..., -1]  # (H, W), straight (not premultiplied) alpha
        gray = alpha * gray + (1.0 - alpha) * _backdrop(gray, alpha)
    return np.clip(gray, 0.0, 1.0).astype(np.float32)


def _frame(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the outer frame, ``FRAME`` of the shorter side wide (>= 1 pixel).

    At most ``FRAME_SAMPLES`` of its pixels, evenly spaced, so a 12-megapixel photo fits as fast as
    a scan. Shape: ``(P,), (P,)``.
    """
    b = max(1, round(min(h, w) * FRAME))
    mask = np.ones((h, w), dtype=bool)
    mask[b : h - b, b : w - b] = False
    ys, xs = np.nonzero(mask)  # (P,) each, row-major order
    step = max(1, ys.size // FRAME_SAMPLES)
    return ys[::step], xs[::step]


def _paper(v: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Fit the paper's level as a quadratic surface to the frame.

    ``level(y, x) = c0 + c1 x + c2 y + c3 x^2 + c4 xy + c5 y^2`` in coordinates scaled to [-1, 1] follows
    a lighting gradient or a vignette. The fit is refined three times on the frame pixels within 3
    robust deviations (1.4826 MAD) of the last fit, so ink that touches the border does not pull it.

    Shape: v ``(H, W)``, frame indices ys, xs ``(P,)`` -> level ``(H, W)``.
    """
    h, w = v.shape
    values = v[ys, xs].astype(np.float64)  # (P,)
    y = ys / max(h - 1, 1) * 2 - 1
    x = xs / max(w - 1, 1) * 2 - 1
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)  # (P, 6)
    coef = np.zeros(6)
    coef[0] = np.median(values)
    for _ in range(3):
        residual = values - design @ coef
        spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
        inliers = np.abs(residual) <= 3 * spread + 1e-6
        if np.count_nonzero(inliers) < 10 * design.shape[1]:
            break  # too few points to carry a surface (a tiny image): keep the flat median
        a, v_in = design[inliers], values[inliers]  # (Q, 6), (Q,)
        coef = np.linalg.lstsq(a.T @ a, a.T @ v_in, rcond=None)[0]  # normal equations: (6, 6) @ (6,)
    gy = np.linspace(-1, 1, h) if h > 1 else np.zeros(1)
    gx = np.linspace(-1, 1, w) if w > 1 else np.zeros(1)
    gy, gx = gy[:, None], gx[None, :]  # (H, 1), (1, W)
    level = coef[0] + coef[1] * gx + coef[2] * gy + coef[3] * gx**2 + coef[4] * gx * gy
    level = level + coef[5] * gy**2  # (H, W)
    return level.astype(np.float32)


def _noise(signal: np.ndarray) -> float:
    """The paper's noise: 1.4826 MAD of the whole image above its fitted level, a robust standard
    deviation. Taken over every pixel rather than the frame, whose margin may be flat while the
    paper is grainy; the ink, a minority of the pixels, barely moves a median."""
    sample = signal.ravel()[:: max(1, signal.size // NOISE_SAMPLES)]  # (<= 2 * NOISE_SAMPLES,)
    return 1.4826 * float(np.median(np.abs(sample - np.median(sample))))


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero ink pixels none of whose 8 neighbours hold ink: single-pixel dust and noise."""
    on = np.pad(ink > 0, 1).astype(np.uint8)  # (H+2, W+2)
    rows = on[:-2] + on[1:-1] + on[2:]  # (H, W+2): vertical 3-sums
    box = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]  # (H, W): 3x3 sums, the pixel itself included
    return np.where(box > 1, ink, 0.0).astype(np.float32)


def to_ink(image: Image.Image | np.ndarray, *, name: str | None = None) -> tuple[np.ndarray, bool]:
    """Grayscale, polarity and background removal: the image as bright ink on black.

    Polarity is read from the outer frame (the paper): when its median grey lies closer to the
    image's lightest value than to its darkest, the ink is darker than the paper and the image is
    inverted. The paper's level is fitted as a smooth surface to the frame (:func:`_paper`) and
    subtracted together with 3 deviations of its noise (a robust spread of the whole image about
    that surface); the result is divided by the strongest ink (its
    98th percentile), clipped to [0, 1], values under 0.05 and isolated single pixels set to 0.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        A PIL image in any mode, or an array: ``(H, W)``, ``(H, W, C)`` with C = 1 (grey), 2 (grey,
        alpha), 3 (RGB) or 4 (RGBA), or ``(784,)``; uint8 in 0..255, uint16, bool, or float in [0, 1].
        Transparent pixels are composited onto a backdrop that keeps the strokes visible: white behind
        dark strokes on a transparent canvas, black behind light ones, the paper's own grey around a
        mostly opaque photo (see :func:`_backdrop`). PIL's 16-bit modes are scaled by 65535, mode
        ``"F"`` is taken as [0, 1], or as 0..255 (what ``convert("F")`` gives) when it exceeds 1.
    name : str, optional
        Named in error messages, e.g. the file the image came from.

    Returns
    -------
    ink : numpy.ndarray
        Ink in [0, 1] on 0; all zeros when the image holds no ink (contrast under 0.1 of full scale or
        under 6 noise deviations of the paper).
    inverted : bool
        True when the image was dark ink on light paper.

    Shape
    -----
    image ``(H, W, ...)`` -> ink ``(H, W)`` float32.

    Raises
    ------
    ImageError
        Unsupported shape, dtype or mode, NaN, or values out of range.
    """
    gray = _grayscale(image, name)  # (H, W)
    ys, xs = _frame(*gray.shape)  # (P,) each
    border = float(np.median(gray[ys, xs]))
    inverted = border - float(gray.min()) > float(gray.max()) - border
    v = 1.0 - gray if inverted else gray  # (H, W), ink now brighter than paper
    signal = v - _paper(v, ys, xs)  # (H, W), ink above the paper
    floor = NOISE_SIGMAS * _noise(signal)  # paper's grain stays under this
    candidates = signal[signal > floor]
    if candidates.size == 0:
        return np.zeros_like(v), inverted
    contrast = float(np.percentile(candidates, INK_PERCENTILE))
    if contrast < max(MIN_CONTRAST, 2 * floor):
        return np.zeros_like(v), inverted
    ink = np.clip((signal - floor) / (contrast - floor), 0.0, 1.0)
    ink[ink < MIN_INK] = 0.0
    return _drop_specks(ink), inverted


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


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur, separable, zero outside the array. Shape: ``(h, w)`` -> ``(h, w)``."""
    r = math.ceil(3 * sigma)
    t = np.arange(-r, r + 1)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()  # (2r+1,)
    for axis in (0, 1):
        padded = np.pad(a, [(r, r) if ax == axis else (0, 0) for ax in (0, 1)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1, axis=axis)
        a = windows @ kernel  # (h, w, 2r+1) @ (2r+1,) -> (h, w)
    return a


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
    blurred = _blur(fine, sigma)
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
        The image holds no ink (blank, one flat colour, too little contrast), or is malformed.

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
        raise ImageError(
            f"{_prefix(name)}the image holds no ink, nothing to recognise (it is blank, one flat "
            "colour, or its marks are too faint); give an image of one digit, dark on light paper "
            "or light on dark."
        )
    top, left, bottom, right = box
    cropped = ink[top:bottom, left:right]  # (h, w)
    fitted = _fit(cropped)  # (h', w')
    return Preprocessed(ink, box, cropped, fitted, _centre(fitted), bool(inverted))


def preprocess_file(path: str | os.PathLike) -> Preprocessed:
    """:func:`load_image` then :func:`preprocess`, with the file named in any error."""
    return preprocess(load_image(path), name=str(path))
