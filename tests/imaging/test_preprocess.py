"""The MNIST preprocessing: synthetic digits of every size and polarity, real MNIST round trips, errors."""

import doctest

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from digitnet.errors import ImageError
from digitnet.imaging import load_image, preprocess, preprocess_file, to_ink
from digitnet.imaging import mnist_style as module
from digitnet.modelfile import load_model
from digitnet.models import DEFAULT_MODEL

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


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_synthetic_digits_come_out_in_mnist_form(layout, style):
    for digit in "12470":
        result = preprocess(render(digit, layout, style), name=f"{digit}-{layout}-{style}")
        check_mnist_form(result)
        assert result.inverted == (style != "light_on_dark")
        top, left, bottom, right = result.box
        assert np.array_equal(result.cropped, result.ink[top:bottom, left:right])


@pytest.mark.parametrize("style", ["light_on_dark", "photo", "rgba_canvas"])
def test_styles_agree_with_black_on_white(style):
    for digit in "2478":
        reference = preprocess(render(digit, "bottom_right_300px", "dark_on_light")).input
        other = preprocess(render(digit, "bottom_right_300px", style)).input
        assert shifted_correlation(reference, other) > 0.95, digit


def test_both_polarities_give_the_same_input():
    dark = draw_digit("8", (500, 400), (0.2, 0.1, 0.7, 0.9), 12)
    light = ImageOps.invert(dark)
    a, b = preprocess(dark), preprocess(light)
    assert a.inverted and not b.inverted
    np.testing.assert_allclose(a.input, b.input, atol=1e-4)


def test_the_same_digit_at_40_and_1200_pixels_looks_the_same():
    small = preprocess(draw_digit("2", (40, 40), (0.1, 0.1, 0.9, 0.9), 3)).input
    large = preprocess(draw_digit("2", (1200, 1200), (0.1, 0.1, 0.9, 0.9), 90)).input
    assert correlation(small, large) > 0.85


def test_thin_pen_on_a_large_scan_is_thickened_not_faded():
    result = preprocess(draw_digit("7", (1200, 1200), (0.1, 0.1, 0.9, 0.9), 2))
    check_mnist_form(result)
    # A 2 px pen on a 960 px digit is 0.04 fitted pixels wide; box-filtered alone it would leave a
    # faint hairline. MNIST's digits hold 52..164 units of ink (5th..95th percentile).
    assert result.input.sum() > 40
    assert np.count_nonzero(result.input > 0.5) > 30


def test_light_strokes_on_a_transparent_canvas_stay_visible():
    size, box, pen = LAYOUTS["bottom_right_300px"]
    white = draw_digit("4", size, box, pen, ink=(255, 255, 255, 255), paper=(0, 0, 0, 0), mode="RGBA")
    black = draw_digit("4", size, box, pen, ink=(0, 0, 0, 255), paper=(255, 255, 255, 0), mode="RGBA")
    a, b = preprocess(white), preprocess(black)
    assert not a.inverted and b.inverted
    assert correlation(a.input, b.input) > 0.99


def test_a_scan_with_transparent_margins_keeps_its_paper():
    digit = np.asarray(draw_digit("2", (200, 200), (0.2, 0.2, 0.8, 0.8), 12), dtype=np.float64)
    page = np.where(digit < 128, 40.0, 215.0) + np.random.default_rng(1).normal(0, 4, digit.shape)
    rgba = np.zeros((260, 260, 4), dtype=np.uint8)  # transparent margin around an opaque grey scan
    rgba[30:230, 30:230, :3] = np.clip(page, 0, 255).round().astype(np.uint8)[..., None]
    rgba[30:230, 30:230, 3] = 255
    result = preprocess(rgba)
    assert result.inverted
    assert shifted_correlation(result.input, preprocess(rgba[30:230, 30:230, :3]).input) > 0.95


def test_paper_with_a_gradient_and_vignette_is_removed_entirely():
    digit = np.asarray(draw_digit("0", (600, 450), (0.35, 0.3, 0.65, 0.7), 10), dtype=np.float64) / 255
    rows, cols = np.mgrid[-1:1:450j, -1:1:600j]
    paper = 0.9 - 0.08 * cols - 0.15 * (rows**2 + cols**2) / 2  # brighter left, dark corners
    gray = np.where(digit < 0.5, 0.25, paper) + np.random.default_rng(2).normal(0, 0.015, paper.shape)
    result = preprocess(np.clip(gray, 0, 1))
    top, left, bottom, right = result.box
    assert 450 * 0.28 < top and bottom < 450 * 0.72 and 600 * 0.33 < left and right < 600 * 0.67
    check_mnist_form(result)


def test_a_digit_touching_the_border_is_kept():
    tight = draw_digit("0", (140, 200), (0.0, 0.0, 1.0, 1.0), 14)  # strokes run along the frame
    result = preprocess(tight)
    check_mnist_form(result)
    assert result.box[0] == 0 and result.box[2] == 200


def test_a_speck_of_dust_does_not_move_the_box():
    page = np.array(draw_digit("1", (400, 400), (0.4, 0.4, 0.6, 0.6), 8))
    clean = preprocess(page).box
    page[5, 5] = 0
    assert preprocess(page).box == clean


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "PA", "CMYK", "YCbCr", "HSV", "I;16", "I", "F"])
def test_every_pil_mode_gives_the_same_input(mode):
    gray = draw_digit("4", (200, 240), (0.2, 0.2, 0.8, 0.8), 10)
    reference = preprocess(gray).input
    if mode == "I;16":
        image = Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257)  # 16-bit, full scale
    elif mode == "PA":
        image = gray.convert("LA").convert("PA")
    else:
        image = gray.convert(mode)
    assert preprocess(image).input == pytest.approx(reference, abs=0.05)


def test_a_bilevel_image_gives_a_similar_input():
    gray = draw_digit("4", (400, 480), (0.2, 0.2, 0.8, 0.8), 20)
    assert correlation(preprocess(gray.convert("1")).input, preprocess(gray).input) > 0.95


def test_arrays_of_every_supported_layout():
    gray = np.asarray(draw_digit("7", (120, 120), (0.1, 0.1, 0.9, 0.9), 8))  # (H, W) uint8
    reference = preprocess(gray).input
    layouts = {
        "float": gray / 255.0,
        "float32": (gray / 255.0).astype(np.float32),
        "int64": gray.astype(np.int64),
        "bool": gray > 127,
        "uint16": gray.astype(np.uint16) * 257,
        "HW1": gray[..., None],
        "RGB": np.repeat(gray[..., None], 3, axis=2),
        "RGBA": np.dstack([gray, gray, gray, np.full_like(gray, 255)]),
        "LA": np.dstack([gray, np.full_like(gray, 255)]),
    }
    for name, array in layouts.items():
        result = preprocess(array)
        tolerance = 0.3 if name == "bool" else 0.02
        assert np.abs(result.input - reference).max() <= tolerance, name


def test_an_mnist_shaped_array_passes_through():
    field = np.zeros((28, 28), dtype=np.float32)
    field[4:24, 12:16] = 1.0  # a "1", 20 tall, centre of mass at (13.5, 13.5): moves to (14.5, 14.5)
    for array in (field, field.ravel()):
        result = preprocess(array)
        assert not result.inverted
        assert shifted_correlation(result.input, field) > 0.95
        check_mnist_form(result)


def test_to_ink_removes_the_paper_and_reports_polarity():
    image = photo(draw_digit("0", (300, 300), (0.3, 0.3, 0.7, 0.7), 10), np.random.default_rng(3))
    ink, inverted = to_ink(image)
    assert inverted and ink.shape == (300, 300) and ink.dtype == np.float32
    assert ink[:60].max() == 0 and ink[-60:].max() == 0  # paper above and below the digit is gone
    assert np.percentile(ink[ink > 0], 99) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "image",
    [
        np.full((100, 100), 255, dtype=np.uint8),
        np.full((100, 100), 128, dtype=np.uint8),
        np.zeros((28, 28), dtype=np.float32),
        Image.new("RGB", (300, 200), (200, 30, 30)),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        np.clip(np.random.default_rng(4).normal(0.8, 0.02, (300, 300)), 0, 1),  # blank, noisy paper
    ],
    ids=["white", "grey", "black", "red", "transparent", "noisy_paper"],
)
def test_an_image_without_ink_is_refused(image):
    with pytest.raises(ImageError, match="no ink .* all one (dark |light )?shade") as caught:
        preprocess(image, name="blank.png")
    assert "margin of paper" in str(caught.value) and str(caught.value).startswith("blank.png: ")
    ink, _ = to_ink(image)
    assert not ink.any()


def test_a_digit_cropped_inside_its_strokes_is_told_to_keep_a_margin_of_paper():
    # A thick "1" photographed and cropped tighter than its stroke: dark ink and sensor noise, no paper.
    rng = np.random.default_rng(5)
    photo = np.clip(rng.normal(40, 4, (120, 50)), 0, 255).astype(np.uint8)
    drawn = np.zeros((100, 40), np.uint8)  # a drawn one, its black stroke 40 pixels wide, cropped to it
    for image in (photo, drawn, Image.fromarray(photo).convert("RGB")):
        with pytest.raises(ImageError, match="all one dark shade.* cropped so tight .* margin of paper"):
            preprocess(image, name="tight.jpg")
    with_margin = np.full((100, 44), 255, np.uint8)
    with_margin[:, 2:42] = 0  # the same stroke with two pixels of paper each side: read as ink
    assert preprocess(with_margin).box == (0, 2, 100, 42)


def test_marks_too_faint_to_read_are_called_faint_not_blank():
    rng = np.random.default_rng(6)
    noisy = np.clip(rng.normal(200, 12, (100, 100)), 0, 255).astype(np.uint8)  # grain drowns any mark
    noisy[20:80, 45:52] -= 10
    with pytest.raises(ImageError, match="no ink .* too faint") as caught:
        preprocess(noisy)
    assert "margin" not in str(caught.value)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((28, 28), np.nan), "NaN"),
        (np.zeros((28, 28, 5)), "shape"),
        (np.zeros((2, 28, 28, 1)), "shape"),
        (np.zeros((0, 5)), "empty"),
        (np.full((28, 28), 2.0), r"\[0, 1\]"),
        (np.full((28, 28), -1), "0..255"),
        (np.full((28, 28), "a"), "dtype"),
    ],
    ids=["nan", "five_channels", "batch", "empty", "float_range", "negative", "strings"],
)
def test_malformed_arrays_are_refused_clearly(array, message):
    with pytest.raises(ImageError, match=message):
        preprocess(array, name="canvas")


def test_something_that_is_no_image_is_a_type_error():
    with pytest.raises(TypeError, match="list"):
        preprocess([[0, 1], [1, 0]])


def test_file_errors_name_the_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n")
    good = tmp_path / "digit.png"
    draw_digit("1", (64, 64), (0.1, 0.1, 0.9, 0.9), 5).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    cases = {
        text: "not an image",
        truncated: "truncated",
        tmp_path / "missing.png": "no such file",
        tmp_path: "folder",
        blank: "no ink",
    }
    for path, message in cases.items():
        with pytest.raises(ImageError, match=message) as caught:
            preprocess_file(path)
        assert str(path) in str(caught.value)


def test_files_are_read_and_turned_upright(tmp_path):
    path = tmp_path / "phone.jpg"
    wide = draw_digit("1", (120, 80), (0.1, 0.1, 0.9, 0.9), 6).rotate(90, expand=True)  # lying down
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees clockwise to view": the camera was held sideways
    wide.convert("RGB").save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (120, 80)  # upright again: width 120, height 80
    result = preprocess_file(path)
    height, width = ink_box_size(result.input > 0.5)
    assert height > 2 * width  # a standing "1"


def test_docstring_examples_run():
    failures, _ = doctest.testmod(module)
    assert failures == 0


# Real MNIST: its digits were made by this very procedure, so blowing one up, inverting it and saving
# it as a photo-like file must come back close to the original.


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_mnist_digits_survive_a_round_trip_through_a_file(mnist_test_images, tmp_path, fmt):
    digits = mnist_test_images[::200][:50]  # (50, 28, 28), spread over the test set
    scores = []
    for i, digit in enumerate(digits):
        page = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
        path = tmp_path / f"{i}.{fmt.lower()}"
        page.save(path, fmt)
        result = preprocess_file(path)
        assert result.inverted
        scores.append(correlation(result.input, digit / 255.0))
    assert np.mean(scores) > 0.85, np.round(scores, 2)


def test_mnist_digits_pass_through_as_arrays(mnist_test_images):
    digits = mnist_test_images[1::200][:50]
    scores = [correlation(preprocess(d / 255.0).input, d / 255.0) for d in digits]
    scores += [correlation(preprocess(d.ravel()).input, d / 255.0) for d in digits]
    assert np.mean(scores) > 0.95


# Digits that fill their image: the ink touches the frame, and may cover more of the image than the paper.


@pytest.fixture(scope="module")
def default_model():
    """The bundled ``default`` network (97.96% on the MNIST test set)."""
    return load_model(DEFAULT_MODEL).model


def share_read_right(model, inputs: list[np.ndarray], labels: np.ndarray) -> float:
    x = np.stack([a.reshape(-1) for a in inputs])  # (N, 784)
    return float(np.mean(model.predict_proba(x).argmax(axis=1) == labels))


def crop_to_ink(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


SAMPLE = slice(7, 10_000, 100)  # 100 test digits spread over the test set


@pytest.fixture(scope="module")
def full_digits_share(mnist_test_images, mnist_test_labels, default_model) -> float:
    """The share of the sample the default network reads right from the untouched 28x28 digits."""
    digits, labels = mnist_test_images[SAMPLE], mnist_test_labels[SAMPLE]
    return share_read_right(default_model, [preprocess(d / 255.0).input for d in digits], labels)


def test_mnist_digits_cropped_to_their_box_at_16_pixels_are_read(
    mnist_test_images, mnist_test_labels, default_model, full_digits_share
):
    digits, labels = mnist_test_images[SAMPLE], mnist_test_labels[SAMPLE]
    tight = [
        np.asarray(Image.fromarray(crop_to_ink(d)).resize((16, 16), Image.Resampling.BILINEAR))
        for d in digits
    ]
    for t in tight:  # no margin at all: ink in the first and last rows and columns
        assert t[0].any() and t[-1].any() and t[:, 0].any() and t[:, -1].any()
    for name, images in {"light on dark": tight, "dark on light": [255 - t for t in tight]}.items():
        share = share_read_right(default_model, [preprocess(t).input for t in images], labels)
        assert share >= 0.9 * full_digits_share, (name, share, full_digits_share)


@pytest.mark.parametrize("fill", [0.6, 0.75, 0.9])
def test_mnist_digits_filling_most_of_a_photo_are_read(
    fill, mnist_test_images, mnist_test_labels, default_model, full_digits_share
):
    rng = np.random.default_rng(5)
    digits, labels = mnist_test_images[SAMPLE], mnist_test_labels[SAMPLE]
    inputs = []
    for d in digits:
        ink = crop_to_ink(d)
        scale = fill * 200 / max(ink.shape)
        size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        page = Image.new("L", (200, 200), 255)
        glyph = Image.fromarray(255 - ink).resize(size, Image.Resampling.BICUBIC)
        page.paste(glyph, ((200 - size[0]) // 2, (200 - size[1]) // 2))
        inputs.append(preprocess(photo(page, rng)).input)  # blue ink, lighting gradient, sensor noise
    share = share_read_right(default_model, inputs, labels)
    assert share >= 0.9 * full_digits_share, (share, full_digits_share)


@pytest.mark.parametrize("aspect", [0.7, 1.0])
@pytest.mark.parametrize("pen", [30, 40, 50, 60])
def test_a_bold_two_filling_80_percent_of_160_pixels_is_read(pen, aspect, default_model):
    # Drawn at 4x and shrunk, so its edges are anti-aliased; the ink covers 33% to 63% of the image.
    large = draw_digit("2", (640, 640), (0.1, 0.1, 0.9, 0.9), 4 * pen, aspect=aspect)
    clean = large.resize((160, 160), Image.Resampling.LANCZOS)
    for image in (clean, photo(clean, np.random.default_rng(pen))):
        result = preprocess(image, name=f"bold-2-{pen}px")  # refused as "no ink" before
        check_mnist_form(result)
        top, left, bottom, right = result.box
        assert top <= 17 and bottom == 160  # the whole height, the pen reaching the bottom edge
        assert share_read_right(default_model, [result.input], np.array([2])) == 1.0
