"""From any image of a digit to "ink": grayscale, bright ink on black, the paper removed.

Steps 1 to 3 of MNIST-style preprocessing (see :mod:`digitnet.imaging.mnist_style`): grayscale with any
transparency composited onto a backdrop; polarity decided from the outer frame (light paper means dark
ink, which is inverted); the paper's level fitted as a smooth surface to the frame and subtracted, so
uneven lighting goes too, and the strongest ink rescaled to 1.

Shapes: ``(H, W)`` is the input's resolution. Every array returned is float32 with ink in ``(0, 1]`` on 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from digitnet.errors import ImageError
from digitnet.imaging.decode import open_image

__all__ = ["load_image", "to_ink"]

FRAME = 1 / 32  # width of the outer frame that samples the paper, as a fraction of the shorter side
FRAME_SAMPLES = 20_000  # plenty to fit the paper's 6 coefficients
FIT_STEPS = ((3, 3.0, 1.0), (6, 3.0, 1.0), (6, 3.0, 3.0))  # (surface terms, window below, above): see _paper
NOISE_SAMPLES = 100_000  # enough pixels for a steady median of the paper's noise
NOISE_SIGMAS = 3.0  # paper within this many noise deviations of its fitted level is background
MIN_CONTRAST = 0.1  # ink must differ from the paper by 10% of full scale (and by 6 noise deviations)
MIN_INK = 0.05  # after rescaling, ink fainter than this is paper texture or compression noise
INK_PERCENTILE = 98.0  # "strongest ink" is this percentile, not the maximum, so one hot pixel can't set it


def load_image(path: str | os.PathLike) -> Image.Image:
    """Read an image file safely (:func:`~digitnet.imaging.decode.open_image`), turned upright by its EXIF
    orientation tag (phone photos).

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, GIF (first frame), BMP, TIFF or WebP file, told by its first bytes, not its name.

    Returns
    -------
    PIL.Image.Image
        The decoded image, fully loaded, in the file's own mode; a baseline JPEG over
        :data:`~digitnet.imaging.decode.MAX_PIXELS` comes back reduced by 2, 4 or 8 on each side.

    Raises
    ------
    ImageFormatError
        The file is none of those formats (PostScript, EPS, PDF, SVG, text, ...); nothing decoded it.
    ImageTooLargeError
        Its header declares more pixels than digitnet decodes; nothing decoded it.
    ImageError
        The file is missing, is a folder, or is truncated or corrupt.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ImageError(f"{path}: no such file; check the path and the spelling.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image; name an image file inside it.")
    return open_image(path, name=str(path))


def source_prefix(name: str | None) -> str:
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
        return np.asarray(image if image.mode == target else image.convert(target))  # (H, W, 4 or 3) uint8
    except ValueError:
        raise ImageError(
            f"{source_prefix(name)}Pillow cannot convert mode {image.mode!r} to {target}; "
            "save the image as an ordinary RGB or grayscale PNG."
        ) from None


def _to_unit(a: np.ndarray, name: str | None) -> np.ndarray:
    """Scale an array of any supported dtype to float32 in [0, 1]."""
    where = source_prefix(name)
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
    if a.ndim == 1 and a.size == 28 * 28:
        a = a.reshape(28, 28)  # (784,) -> (28, 28): a flat MNIST digit, row-major
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        channels = a.shape[-1]
    elif a.ndim == 2:
        channels = 1
        a = a[..., None]  # (H, W) -> (H, W, 1)
    else:
        raise ImageError(
            f"{source_prefix(name)}pixel array has shape {a.shape}; expected (H, W), (H, W, C) with C "
            f"in 1..4, or (784,)"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"{source_prefix(name)}the image is empty (shape {a.shape})")
    if a.dtype != np.uint8:
        a = _to_unit(a, name)  # (H, W, C) float32; uint8 is scaled a channel at a time, to save memory
    if channels >= 3:
        gray = _weighted(a, 0, 0.299)  # (H, W), summed in place: 4 bytes a pixel, not 12
        gray += _weighted(a, 1, 0.587)
        gray += _weighted(a, 2, 0.114)
    else:
        gray = _weighted(a, 0, 1.0)
    if channels in (2, 4):
        alpha = _weighted(a, channels - 1, 1.0)  # (H, W), straight (not premultiplied) alpha
        backdrop = _backdrop(gray, alpha)
        gray -= backdrop  # alpha gray + (1 - alpha) backdrop = alpha (gray - backdrop) + backdrop
        gray *= alpha
        gray += backdrop
    return np.clip(gray, 0.0, 1.0, out=gray)  # a new array: callers may overwrite it


def _weighted(a: np.ndarray, channel: int, weight: float) -> np.ndarray:
    """A new float32 array: one channel scaled to [0, 1] (uint8 by 1/255; else :func:`_to_unit` did it),
    times ``weight``. Shape: ``(H, W, C)`` -> ``(H, W)``."""
    if a.dtype != np.uint8:
        return a[..., channel] * np.float32(weight)
    out = np.multiply(a[..., channel], np.float32(1 / 255), dtype=np.float32)
    out *= np.float32(weight)
    return out


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
    """Fit the paper's level as a smooth surface to the frame, robustly against ink that touches it.

    ``level(y, x) = c0 + c1 x + c2 y + c3 x^2 + c4 xy + c5 y^2`` in coordinates scaled to [-1, 1] follows
    a lighting gradient or a vignette. It starts flat at the frame's mode (:func:`_mode`), the paper's own
    level even when ink covers much of the frame, and is refitted by least squares on the frame pixels whose
    residual ``r`` lies within a window around the last fit, as ``FIT_STEPS`` lists: a plane first, which
    cannot bulge into the middle of the image however the frame is spread; then the quadratic. The window
    is measured in the paper's spread ``s`` from below (:func:`_lower_spread`): ``-3 s <= r <= s`` while
    ink may still pull the fit, since ink only lies above the paper and its faint, anti-aliased edges must
    stay out; ``|r| <= 3 s`` last, once the fit is clean, so that cutting the paper's upper tail at
    ``+s`` (which biases a Gaussian's mean by -0.29 s) does not bias the level.

    Shape: v ``(H, W)``, frame indices ys, xs ``(P,)`` -> level ``(H, W)``.
    """
    h, w = v.shape
    values = v[ys, xs].astype(np.float64)  # (P,)
    y = ys / max(h - 1, 1) * 2 - 1
    x = xs / max(w - 1, 1) * 2 - 1
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)  # (P, 6)
    coef = np.zeros(6)
    coef[0] = _mode(values)
    for terms, below, above in FIT_STEPS:
        residual = values - design @ coef  # (P,)
        spread = _lower_spread(residual)
        inliers = (residual >= -below * spread - 1e-6) & (residual <= above * spread + 1e-6)
        if np.count_nonzero(inliers) < 10 * terms:
            break  # too few points to carry the surface (a tiny image): keep the last fit
        a, v_in = design[inliers, :terms], values[inliers]  # (Q, terms), (Q,)
        coef = np.zeros(6)
        coef[:terms] = np.linalg.lstsq(a.T @ a, a.T @ v_in, rcond=None)[0]  # normal equations
    gy = np.linspace(-1, 1, h) if h > 1 else np.zeros(1)
    gx = np.linspace(-1, 1, w) if w > 1 else np.zeros(1)
    rows = (coef[0] + coef[2] * gy + coef[5] * gy**2).astype(np.float32)[:, None]  # (H, 1)
    cols = (coef[1] * gx + coef[3] * gx**2).astype(np.float32)[None, :]  # (1, W)
    level = rows + cols  # (H, W), in float32: the whole image is never held in float64
    level += (coef[4] * gy).astype(np.float32)[:, None] * gx.astype(np.float32)[None, :]  # the xy term
    return level


def _noise(signal: np.ndarray) -> float:
    """The paper's noise: the lower-side spread (:func:`_lower_spread`) of the whole image about its
    fitted level, a robust standard deviation.

    Taken over every pixel rather than the frame, whose margin may be flat while the paper is grainy;
    and from the lower side only, where there is no ink (ink only adds to the signal), so it holds
    whatever share of the image the ink covers, a digit cropped to its box included.
    """
    sample = signal.ravel()[:: max(1, signal.size // NOISE_SAMPLES)]  # (<= 2 * NOISE_SAMPLES,)
    return _lower_spread(sample)


def _lower_spread(residual: np.ndarray) -> float:
    """Robust standard deviation of paper from the residuals below its level: ``1.4826 median(-r | r < 0)``.

    Ink lies above the paper, so the residuals below 0 are paper alone, however much ink there is. For
    paper noise symmetric about the level, ``|r|`` of its lower half is distributed as ``|r|`` of all of
    it, whose median is 0.6745 sigma for Gaussian noise, hence the factor 1.4826. Residuals of exactly 0
    are left out: they are flat, synthetic paper (a drawing's canvas, a transparent margin), which says
    nothing about the grain elsewhere. Shape: ``(P,)`` -> scalar; 0 when nothing lies below the level.
    """
    below = residual[residual < 0]  # (Q,)
    return 1.4826 * float(np.median(-below)) if below.size else 0.0


def _mode(values: np.ndarray) -> float:
    """The most common value, by the half-sample mode (Bickel and Fruehwirth, 2006).

    Sorted, the values are cut to the half of them that spans the narrowest range, repeatedly, down to
    three, whose median is the mode. The paper is the densest cluster in the frame even where ink covers
    much of it (a digit cropped to its box): the median would be dragged into the ink from 50% on, the
    mode only when the ink is denser than the paper. Shape: ``(P,)`` -> scalar.
    """
    x = np.sort(values)  # (P,)
    while x.size > 3:
        half = (x.size + 1) // 2
        widths = x[half - 1 :] - x[: x.size - half + 1]  # (P - half + 1,): range of each run of `half`
        start = int(np.argmin(widths))
        x = x[start : start + half]
    return float(np.median(x))


def one_shade(image: Image.Image | np.ndarray, *, name: str | None = None) -> float | None:
    """The image's grey level when the whole image is about one shade; None when it is not.

    One shade: its grey levels from the 2nd to the 98th percentile (the span :func:`to_ink` reads the
    strongest ink from) lie within ``MIN_CONTRAST`` of each other, over a sample of ``NOISE_SAMPLES``
    pixels. Then no ink can be told from paper, whichever is which: the image is blank, or its ink fills
    it with no paper showing (a digit cropped tighter than its strokes). An image of faint marks, or
    noisy enough to drown them, is not one shade.

    Returns
    -------
    float or None
        The median grey in [0, 1] (0 black), or None.

    Shape: image ``(H, W, ...)`` -> scalar.
    """
    gray = _grayscale(image, name)  # (H, W)
    sample = gray.ravel()[:: max(1, gray.size // NOISE_SAMPLES)]  # (<= 2 * NOISE_SAMPLES,)
    low, median, high = np.percentile(sample, [100 - INK_PERCENTILE, 50, INK_PERCENTILE])
    return float(median) if high - low < MIN_CONTRAST else None


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero ink pixels none of whose 8 neighbours hold ink: single-pixel dust and noise."""
    on = np.pad(ink > 0, 1).astype(np.uint8)  # (H+2, W+2)
    rows = on[:-2] + on[1:-1] + on[2:]  # (H, W+2): vertical 3-sums
    box = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]  # (H, W): 3x3 sums, the pixel itself included
    ink[box <= 1] = 0.0  # in place
    return ink


def to_ink(image: Image.Image | np.ndarray, *, name: str | None = None) -> tuple[np.ndarray, bool]:
    """Grayscale, polarity and background removal: the image as bright ink on black.

    Polarity is read from the outer frame (the paper): when its most common grey (:func:`_mode`) lies
    closer to the image's lightest value than to its darkest, the ink is darker than the paper and the
    image is inverted. The paper's level is fitted as a smooth surface to the frame (:func:`_paper`) and
    subtracted together with 3 deviations of its noise, a robust spread of the whole image below that
    surface (:func:`_noise`); the result is divided by the strongest ink (its 98th percentile), clipped to
    [0, 1], values under 0.05 and isolated single pixels set to 0.

    Ink may touch the frame and cover most of the image (a digit cropped to its box): the mode, the
    surface's asymmetric window and the noise's lower side all read the paper from where the ink is not,
    since ink only ever lies above the paper.

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
    border = _mode(gray[ys, xs])  # the paper's grey, even where the ink touches the frame
    inverted = border - float(gray.min()) > float(gray.max()) - border
    v = np.subtract(np.float32(1), gray, out=gray) if inverted else gray  # (H, W), ink brighter than paper
    level = _paper(v, ys, xs)  # (H, W)
    signal = np.subtract(v, level, out=v)  # (H, W), ink above the paper; in place, as below, to save memory
    del level
    floor = NOISE_SIGMAS * _noise(signal)  # paper's grain stays under this
    candidates = signal[signal > floor]
    if candidates.size == 0:
        return np.zeros_like(v), inverted
    contrast = float(np.percentile(candidates, INK_PERCENTILE))
    if contrast < max(MIN_CONTRAST, 2 * floor):
        return np.zeros_like(v), inverted
    ink = np.subtract(signal, floor, out=signal)
    ink /= contrast - floor
    np.clip(ink, 0.0, 1.0, out=ink)
    ink[ink < MIN_INK] = 0.0
    return _drop_specks(ink), inverted
