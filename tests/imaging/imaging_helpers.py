"""Digits drawn and encoded for the imaging tests, and the check of MNIST form, shared by several files."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

# For the decoding tests (test_decode, test_formats, test_jpeg).


def digit(mode: str = "L", size: tuple[int, int] = (40, 48)) -> Image.Image:
    """A black "7" on white, in any Pillow mode."""
    image = Image.new("L", size, 255)
    w, h = size
    ImageDraw.Draw(image).line(
        [(w * 0.2, h * 0.15), (w * 0.8, h * 0.15), (w * 0.4, h * 0.85)], fill=0, width=4
    )
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# For the preprocessing tests (test_ink, test_mnist_style, test_preprocess).


# Each digit is a list of strokes in unit coordinates (x right, y down, the digit filling [0, 1]^2):
# a polyline, or ("arc", box, start, end) in Pillow's degrees.
DIGITS = {
    "1": [[(0.35, 0.2), (0.6, 0.0), (0.6, 1.0)]],
    "2": [("arc", (0.0, 0.0, 1.0, 0.6), 180, 360), [(1.0, 0.3), (0.0, 1.0), (1.0, 1.0)]],
    "4": [[(0.7, 1.0), (0.7, 0.0), (0.0, 0.7), (1.0, 0.7)]],
    "7": [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]],
    "0": [("arc", (0.0, 0.0, 1.0, 1.0), 0, 360)],
    "8": [("arc", (0.1, 0.0, 0.9, 0.45), 0, 360), ("arc", (0.0, 0.45, 1.0, 1.0), 0, 360)],
}
ASPECT = {"1": 0.45, "7": 0.65}  # width / height of the digit's box; 0.7 for the others


def draw_digit(
    digit: str,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    thickness: int,
    ink=0,
    paper=255,
    mode: str = "L",
    aspect: float | None = None,
) -> Image.Image:
    """Draw ``digit`` with its height spanning ``box = (x0, y0, x1, y1)``, in fractions of ``size``.

    The width follows the digit's aspect ratio (``aspect``, or its usual one), centred in the box;
    ``size`` is ``(width, height)``.
    """
    width, height = size
    x0, y0, x1, y1 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    h = y1 - y0
    w = h * (aspect or ASPECT.get(digit, 0.7))
    left = (x0 + x1) / 2 - w / 2
    image = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(image)

    def point(p):
        return (left + p[0] * w, y0 + p[1] * h)

    for stroke in DIGITS[digit]:
        if stroke[0] == "arc":
            _, (a, b, c, d), start, end = stroke
            rect = [point((a, b)), point((c, d))]
            pen.arc(rect, start, end, fill=ink, width=thickness)
        else:
            pen.line([point(p) for p in stroke], fill=ink, width=thickness, joint="curve")
    return image


def photo(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Dark blue ink on off-white paper, with a lighting gradient and sensor noise."""
    ink = np.asarray(image.convert("L"), dtype=np.float64) / 255  # (H, W): 0 ink, 1 paper
    h, w = ink.shape
    light = 0.82 + 0.12 * np.linspace(0, 1, w)[None, :] - 0.05 * np.linspace(0, 1, h)[:, None]
    paper = np.array([0.97, 0.95, 0.88])  # off-white
    pen = np.array([0.12, 0.15, 0.45])  # dark blue
    rgb = ink[..., None] * paper + (1 - ink[..., None]) * pen  # (H, W, 3)
    rgb = rgb * light[..., None] + rng.normal(0, 0.02, rgb.shape)
    return Image.fromarray(np.clip(rgb * 255, 0, 255).round().astype(np.uint8))


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(a.shape)
    return float((a * rows).sum() / a.sum()), float((a * cols).sum() / a.sum())


def centres_of_mass(images: np.ndarray) -> np.ndarray:
    """(row, column) of each image's centre of mass: (N, H, W) -> (N, 2)."""
    n, h, w = images.shape
    mass = images.sum(axis=(1, 2))  # (N,)
    rows = images.sum(axis=2) @ np.arange(h) / mass  # (N, H) @ (H,) -> (N,)
    cols = images.sum(axis=1) @ np.arange(w) / mass  # (N, W) @ (W,) -> (N,)
    return np.stack([rows, cols], axis=1)


def ink_box_size(a: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(a.any(axis=1))
    cols = np.flatnonzero(a.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


LAYOUTS = {  # (width, height) of the image, the digit's box in fractions of it, pen width in pixels
    "tiny_40px": ((40, 40), (0.1, 0.1, 0.9, 0.9), 3),
    "corner_of_1200px_thin_pen": ((1200, 1200), (0.03, 0.03, 0.25, 0.3), 3),
    "large_thick_1000px": ((1000, 800), (0.05, 0.05, 0.95, 0.95), 60),
    "bottom_right_300px": ((300, 200), (0.6, 0.45, 0.95, 0.95), 6),
    "tall_narrow_120px": ((120, 400), (0.1, 0.3, 0.9, 0.7), 7),
}
STYLES = ["dark_on_light", "light_on_dark", "photo", "rgba_canvas"]


def render(digit: str, layout: str, style: str, seed: int = 0) -> Image.Image:
    size, box, pen = LAYOUTS[layout]
    if style == "light_on_dark":
        return draw_digit(digit, size, box, pen, ink=255, paper=0)
    if style == "photo":
        return photo(draw_digit(digit, size, box, pen), np.random.default_rng(seed))
    if style == "rgba_canvas":  # black strokes on a fully transparent canvas, as a drawing app saves
        return draw_digit(digit, size, box, pen, ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")
    return draw_digit(digit, size, box, pen)


def check_mnist_form(result) -> None:
    x = result.input
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0, abs=0.02)
    assert max(result.fitted.shape) == 20 and result.fitted.dtype == np.float32
    assert max(ink_box_size(x > 0)) in (19, 20)
    cy, cx = centre_of_mass(x)
    assert 13.5 - 1e-6 <= cy <= 14.5 + 1e-6 and 13.5 - 1e-6 <= cx <= 14.5 + 1e-6, (cy, cx)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def shifted_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The best correlation over shifts of up to one pixel: centring rounds to whole pixels, so a
    tiny difference in the centre of mass can move the whole digit by one."""
    return max(correlation(a, np.roll(b, (dy, dx), axis=(0, 1))) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
