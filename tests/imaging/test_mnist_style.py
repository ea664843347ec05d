"""mnist_style: the ink cropped, fitted to 20 pixels, thickened and centred the way MNIST's digits were."""

import doctest

import numpy as np
import pytest
from imaging_helpers import (
    LAYOUTS,
    STYLES,
    check_mnist_form,
    correlation,
    draw_digit,
    render,
    shifted_correlation,
)

from digitnet.imaging import mnist_style as module
from digitnet.imaging import preprocess


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_synthetic_digits_come_out_in_mnist_form(layout, style):
    for digit in "12470":
        result = preprocess(render(digit, layout, style), name=f"{digit}-{layout}-{style}")
        check_mnist_form(result)
        assert result.inverted == (style != "light_on_dark")
        top, left, bottom, right = result.box
        assert np.array_equal(result.cropped, result.ink[top:bottom, left:right])


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


def test_an_mnist_shaped_array_passes_through():
    field = np.zeros((28, 28), dtype=np.float32)
    field[4:24, 12:16] = 1.0  # a "1", 20 tall, centre of mass at (13.5, 13.5): moves to (14.5, 14.5)
    for array in (field, field.ravel()):
        result = preprocess(array)
        assert not result.inverted
        assert shifted_correlation(result.input, field) > 0.95
        check_mnist_form(result)


def test_docstring_examples_run():
    failures, _ = doctest.testmod(module)
    assert failures == 0
