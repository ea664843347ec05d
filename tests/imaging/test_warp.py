"""The one bilinear warper: exact geometry of each affine map, zero fill outside, the two arithmetics, and
the sampling grid's maths. Synthetic images only."""

import math

import numpy as np
import pytest
from imaging_helpers import centres_of_mass

from digitnet.imaging import warp as warp_module
from digitnet.imaging.affine import affine_matrices, invert_affine
from digitnet.imaging.warp import warp, warp_about

C = 13.5  # the centre of a 28x28 image, (H - 1) / 2


def asymmetric() -> np.ndarray:
    """An 'L' with a dot, no symmetry, empty 5-pixel borders: float32 (28, 28)."""
    image = np.zeros((28, 28), dtype=np.float32)
    image[6:20, 8:11] = 1.0  # the upright
    image[17:20, 11:19] = 0.6  # the foot, fainter
    image[7:9, 16:18] = 0.3  # the dot
    return image


def rotation(degrees: float) -> np.ndarray:
    """The (2, 2) inverse map of a turn by ``degrees`` anticlockwise on screen (rows grow downwards)."""
    t = math.radians(degrees)
    return np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])


# --- identity, shifts and zero fill ------------------------------------------------------------------


def test_the_identity_returns_the_image_exactly():
    images = np.random.default_rng(0).random((70, 28, 28), dtype=np.float32)  # ink up to the border
    np.testing.assert_array_equal(
        warp(images, affine_matrices(0, 0, 1, (0, 0), (28, 28)).repeat(70, 0)), images
    )
    np.testing.assert_array_equal(warp_about(images, np.eye(2), C), images)
    as_float64 = images.astype(np.float64)
    np.testing.assert_array_equal(warp_about(as_float64, np.eye(2), 14.0), as_float64)


def test_a_shift_by_one_pixel_moves_every_pixel_and_fills_with_zero():
    ones = np.ones((1, 28, 28), dtype=np.float32)
    down = warp(ones, affine_matrices(0, 0, 1, (1, 0), (28, 28)))[0]
    assert not down[0].any() and (down[1:] == 1).all()  # the top row came from outside the image
    left = warp(ones, affine_matrices(0, 0, 1, (0, -1), (28, 28)))[0]
    assert not left[:, -1].any() and (left[:, :-1] == 1).all()


@pytest.mark.parametrize("shift", [(1, 0), (0, -1), (2, 0), (0, 2), (-3, 1), (2, -2)])
def test_integer_shift_moves_the_image_exactly(shift):
    image = asymmetric()
    out = warp(image[None], affine_matrices(0, 0, 1, shift, (28, 28)))[0]
    np.testing.assert_array_equal(out, np.roll(image, shift, axis=(0, 1)))


def test_shift_of_a_fraction_gives_the_bilinear_weights():
    image = np.random.default_rng(0).random((1, 4, 5), dtype=np.float32)
    out = warp(image, affine_matrices(0, 0, 1, (0.5, 0.25), (4, 5)))[0]
    # Output (i, j) reads source (i - 0.5, j - 0.25): a = 0.5 between rows i-1 and i, b = 0.75 between
    # columns j-1 and j; zero outside.
    src = np.pad(image[0].astype(np.float64), ((1, 0), (1, 0)))  # src[i, j] = image[i-1, j-1]
    expected = (
        0.5 * 0.25 * src[:-1, :-1]
        + 0.5 * 0.75 * src[:-1, 1:]
        + 0.5 * 0.25 * src[1:, :-1]
        + 0.5 * 0.75 * src[1:, 1:]
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("degrees, k", [(90, 1), (180, 2), (-90, -1)])
def test_rotation_by_right_angles_matches_rot90(degrees, k):
    image = asymmetric()
    out = warp(image[None], affine_matrices(degrees, 0, 1, (0, 0), (28, 28)))[0]
    np.testing.assert_allclose(out, np.rot90(image, k), atol=1e-5)  # rot90: anticlockwise on screen


def test_positive_shear_slants_the_top_to_the_right():
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:24, 13:15] = 1.0  # an upright bar
    out = warp(image[None], affine_matrices(0, 20, 1, (0, 0), (28, 28)))[0]
    top = out[6] @ np.arange(28) / out[6].sum()  # mean column of row 6, 7.5 rows above the centre
    bottom = out[21] @ np.arange(28) / out[21].sum()  # ... and of row 21, 7.5 rows below
    np.testing.assert_allclose(top - bottom, 15 * math.tan(math.radians(20)), atol=0.05)


def test_scale_moves_ink_away_from_the_centre_by_the_factor():
    image = np.zeros((28, 28), dtype=np.float32)
    image[15:17, 13:15] = 1.0  # centre of mass (15.5, 13.5): 2 rows below the centre (13.5, 13.5)
    out = warp(image[None], affine_matrices(0, 0, 2.0, (0, 0), (28, 28)))
    np.testing.assert_allclose(centres_of_mass(out)[0], [17.5, 13.5], atol=0.05)
    np.testing.assert_allclose(out.sum(), 4 * image.sum(), rtol=0.05)  # area grows by the factor squared


def test_affine_matrices_compose_rotation_shear_scale_about_the_centre():
    theta, phi, s, t = np.radians(30), np.radians(10), 1.2, np.array([1.0, -2.0])
    rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    shear = np.array([[1, 0], [-np.tan(phi), 1]])
    m = rotate @ shear * s
    c = np.array([13.5, 13.5])
    p = np.array([3.0, 20.0])
    got = affine_matrices([30], [10], [1.2], [t], (28, 28))
    assert got.shape == (1, 2, 3)
    np.testing.assert_allclose(got[0] @ np.append(p, 1.0), m @ (p - c) + c + t, atol=1e-12)


# --- what is read from outside the image is 0 ----------------------------------------------------------


def test_shrinking_a_constant_image_reads_zero_outside_and_the_constant_inside():
    """Halving about the centre reads output pixel p at q = 2 p - 13.5: inside [0, 27] for p = 7..20 (with
    both neighbours inside), outside for every other p, where the result must be exactly 0."""
    ones = np.ones((1, 28, 28), dtype=np.float32)
    expected = np.zeros((28, 28), dtype=np.float32)
    expected[7:21, 7:21] = 1.0
    np.testing.assert_array_equal(warp_about(ones, 2 * np.eye(2), C)[0], expected)
    np.testing.assert_array_equal(warp(ones, affine_matrices(0, 0, 0.5, (0, 0), (28, 28)))[0], expected)


def test_a_map_that_reads_far_outside_gives_zero_not_an_index_error():
    images = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    assert not warp_about(images, 1000 * np.eye(2), -500.0).any()
    assert not warp(images, affine_matrices(0, 0, 1, (1e4, -1e4), (28, 28)).repeat(3, 0)).any()


# --- warp_about: one map about a centre for the whole batch -----------------------------------------


def test_a_half_turn_about_the_centre_flips_both_axes_exactly():
    image = asymmetric()
    out = warp_about(image[None], -np.eye(2), C)[0]  # reads q = 27 - p: whole pixels
    np.testing.assert_array_equal(out, image[::-1, ::-1])


@pytest.mark.parametrize("degrees, k", [(90, 1), (-90, -1)])
def test_warp_about_a_quarter_turn_matches_rot90(degrees, k):
    image = asymmetric()
    out = warp_about(image[None], rotation(degrees), C)[0]
    np.testing.assert_allclose(out, np.rot90(image, k), atol=1e-6)  # rot90: anticlockwise on screen


def test_the_two_arithmetics_agree_to_float32_rounding():
    """warp (float32 grid, lerps) and warp_about (float64 grid, weights) resample the same map alike."""
    images = np.random.default_rng(2).random((10, 28, 28), dtype=np.float32)
    for degrees, factor in [(30, 1.0), (-17, 1.0), (0, 1.3), (12, 0.8)]:
        forward = affine_matrices(degrees, 0, factor, (0, 0), (28, 28)).repeat(10, 0)
        inverse = rotation(degrees) / factor
        np.testing.assert_allclose(warp(images, forward), warp_about(images, inverse, C), rtol=0, atol=1e-5)


def test_chunks_do_not_change_a_pixel(monkeypatch):
    """Every operation is per pixel, so the chunk a pixel's image falls in changes none of its arithmetic."""
    images = np.random.default_rng(3).random((150, 28, 28), dtype=np.float32)
    matrices = affine_matrices(np.linspace(-40, 40, 150), 10, 1.1, (0.3, -0.7), (28, 28))
    whole = warp(images, matrices), warp_about(images, rotation(23), 14.0)
    monkeypatch.setattr(warp_module, "CHUNK", 7)  # 21 full chunks and a partial one
    np.testing.assert_array_equal(warp(images, matrices), whole[0])
    np.testing.assert_array_equal(warp_about(images, rotation(23), 14.0), whole[1])


def test_warp_about_keeps_the_dtype_and_leaves_the_input_alone():
    for dtype in (np.float32, np.float64):
        images = np.random.default_rng(4).random((5, 12, 9)).astype(dtype)
        before = images.copy()
        out = warp_about(images, rotation(10), (5.5, 4.0))
        assert out.dtype == dtype and out.shape == (5, 12, 9)
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_array_equal(images, before)


def test_warp_about_refuses_what_it_cannot_resample():
    with pytest.raises(ValueError, match="float32 or float64"):
        warp_about(np.zeros((2, 28, 28), dtype=np.uint8), np.eye(2), C)
    with pytest.raises(ValueError, match="float32 or float64"):
        warp_about(np.zeros((28, 28), dtype=np.float32), np.eye(2), C)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        warp_about(np.zeros((2, 28, 28), dtype=np.float32), np.eye(3), C)
    with pytest.raises(ValueError, match="finite"):
        warp_about(np.zeros((2, 28, 28), dtype=np.float32), np.full((2, 2), np.nan), C)


# --- the affine maps ------------------------------------------------------------------------------------


def test_invert_affine_undoes_the_map():
    m = affine_matrices([30, -70], [10, 0], [1.2, 0.6], [(1.0, -2.0), (0.0, 3.5)], (28, 28))  # (2, 2, 3)
    inverse = invert_affine(m)
    p = np.array([3.0, 20.0, 1.0])
    for k in range(2):
        there = m[k] @ p  # (2,)
        np.testing.assert_allclose(inverse[k] @ np.append(there, 1.0), p[:2], atol=1e-12)


def test_warp_refuses_mismatched_or_singular_matrices():
    images = np.zeros((2, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(2, 2, 3\)"):
        warp(images, affine_matrices(0, 0, 1, (0, 0), (28, 28)))
    with pytest.raises(ValueError, match="not invertible"):
        warp(images, affine_matrices([0, 0], [0, 0], [1, 0], [(0, 0), (0, 0)], (28, 28)))
    with pytest.raises(ValueError, match="displacement"):
        warp(images, affine_matrices([0, 0], 0, 1, (0, 0), (28, 28)), np.zeros((2, 2, 27, 28)))
