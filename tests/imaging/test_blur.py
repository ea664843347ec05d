"""The one Gaussian blur: the kernel's formula, what blurring keeps (a constant, the total ink, the centre of
an impulse) and loses (ink spread past an edge), and the matrix form augmentation smooths with."""

import math

import numpy as np
import pytest

from digitnet.imaging.blur import blur, gaussian_kernel, gaussian_matrix


@pytest.mark.parametrize("sigma, radius", [(0.5, 2), (1.0, 3), (2.3, 7), (6.0, 27)])
def test_the_kernel_is_the_normalised_gaussian(sigma, radius):
    kernel = gaussian_kernel(sigma, radius)
    k = np.arange(-radius, radius + 1)
    g = np.exp(-(k**2) / (2 * sigma**2))
    assert kernel.shape == (2 * radius + 1,) and kernel.dtype == np.float64
    np.testing.assert_allclose(kernel, g / g.sum(), rtol=1e-14)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(kernel, kernel[::-1])
    assert kernel.argmax() == radius


def test_an_impulse_becomes_the_outer_product_of_the_kernel():
    sigma = 1.5
    r = math.ceil(3 * sigma)  # 5
    image = np.zeros((21, 23))
    image[10, 11] = 1.0
    out = blur(image, sigma)
    kernel = gaussian_kernel(sigma, r)
    expected = np.zeros((21, 23))
    expected[10 - r : 11 + r, 11 - r : 12 + r] = np.outer(kernel, kernel)  # nothing beyond the radius
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("sigma", [0.7, 2.0, 3.4])
def test_a_constant_stays_constant_away_from_the_edges_and_fades_at_them(sigma):
    r = math.ceil(3 * sigma)
    out = blur(np.full((40, 50), 0.8, dtype=np.float32), sigma)
    assert out.shape == (40, 50) and out.dtype == np.float64
    np.testing.assert_allclose(out[r:-r, r:-r], 0.8, rtol=1e-6)  # float32 0.8, to its own rounding
    kept = gaussian_kernel(sigma, r)[r:].sum()  # a 1-D edge keeps the kernel's half on the inside
    assert out[0, 0] == pytest.approx(0.8 * kept**2, rel=1e-6)  # zero outside: a corner loses both halves
    assert out[0, 0] < 0.8 * 0.65
    assert (out <= 0.8 + 1e-6).all()


def test_ink_away_from_the_edges_keeps_its_total_and_its_centre():
    rng = np.random.default_rng(0)
    image = np.zeros((60, 60))
    image[20:40, 25:35] = rng.random((20, 10))  # 20 pixels from every edge, more than 3 sigma
    out = blur(image, 2.5)
    assert out.sum() == pytest.approx(image.sum(), rel=1e-12)
    rows, cols = np.indices(image.shape)
    for a in (rows, cols):
        assert (out * a).sum() / out.sum() == pytest.approx((image * a).sum() / image.sum(), abs=1e-9)
    assert out.max() < image.max()  # and spreads it out


def test_blur_leaves_its_input_alone():
    image = np.random.default_rng(1).random((30, 30), dtype=np.float32)
    before = image.copy()
    blur(image, 1.3)
    np.testing.assert_array_equal(image, before)


def test_the_matrix_form_holds_the_kernel_over_every_offset_that_fits():
    size, sigma = 12, 2.0
    g = gaussian_matrix(size, sigma)
    kernel = gaussian_kernel(sigma, size - 1)  # (2 size - 1,)
    assert g.shape == (size, size) and g.dtype == np.float32
    np.testing.assert_array_equal(g, g.T)
    for i in range(size):
        np.testing.assert_array_equal(g[i], kernel[size - 1 + i - np.arange(size)].astype(np.float32))
    v = np.random.default_rng(2).random(size)
    np.testing.assert_allclose(g @ v, np.convolve(v, kernel)[size - 1 : 2 * size - 1], atol=1e-6)


def test_the_matrix_is_cached_and_read_only():
    g = gaussian_matrix(28, 6.0)
    assert gaussian_matrix(28, 6.0) is g
    with pytest.raises(ValueError, match="read-only"):
        g[0, 0] = 1.0
