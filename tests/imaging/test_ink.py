"""to_ink, through preprocess: grayscale from every mode and array layout, polarity, paper removed, no ink."""

import numpy as np
import pytest
from imaging_helpers import (
    LAYOUTS,
    check_mnist_form,
    correlation,
    draw_digit,
    photo,
    render,
    shifted_correlation,
)
from PIL import Image, ImageOps

from digitnet.errors import ImageError
from digitnet.imaging import preprocess, to_ink


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
