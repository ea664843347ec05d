"""The whole preprocess pipeline on real images: files, real MNIST digits, digits that fill their image."""

import numpy as np
import pytest
from imaging_helpers import check_mnist_form, correlation, draw_digit, ink_box_size, photo
from PIL import Image

from digitnet.errors import ImageError
from digitnet.imaging import load_image, preprocess, preprocess_file
from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL


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
    return load_model(MLP_MODEL).model


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
