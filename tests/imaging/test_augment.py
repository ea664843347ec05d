"""Augment: shapes and ranges, reproducibility, the elastic field's maths, and that every image stays itself
(labels need no change). Synthetic images only; the geometry of each distortion is in test_warp.py."""

import dataclasses
import math

import numpy as np
import pytest
from imaging_helpers import centres_of_mass

from digitnet.imaging import augment as augment_module
from digitnet.imaging.augment import AUGMENTATIONS, Augment, elastic_displacement

OFF = dict(shift=0, rotation=0, scale=0, shear=0, elastic_alpha=0)  # every distortion switched off
MILD = dict(shift=1, rotation=5, scale=0.05, shear=5, elastic_alpha=10, elastic_sigma=6)
STRONG = dict(shift=5, rotation=60, scale=0.4, shear=40, elastic_alpha=34, elastic_sigma=4)


def strokes(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """``n`` digit-like images: three random anti-aliased strokes in the central 18x18, float32 (n, H, W)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)  # (H, W) each
    images = np.zeros((n, size, size), dtype=np.float32)
    for k in range(n):
        for _ in range(3):
            (r0, c0), (r1, c1) = rng.uniform(5, 23, (2, 2))
            length2 = (r1 - r0) ** 2 + (c1 - c0) ** 2 + 1e-9
            t = np.clip(((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / length2, 0, 1)
            distance = np.hypot(rows - (r0 + t * (r1 - r0)), cols - (c0 + t * (c1 - c0)))
            ink = np.clip((2.5 - distance) / 1.5, 0, 1)  # full ink 2 pixels wide, soft edges: like MNIST
            images[k] = np.maximum(images[k], ink)
    return images


# --- shapes, dtype, range, reproducibility ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28), (5, 1, 28, 28)], ids=str)
def test_shape_and_dtype_are_kept(shape):
    images = strokes(5).reshape(shape)
    before = images.copy()
    out = Augment()(images, np.random.default_rng(0))
    assert out.shape == shape
    assert out.dtype == np.float32
    assert not np.shares_memory(out, images)
    np.testing.assert_array_equal(images, before)  # the input is not touched


def test_the_three_shapes_give_the_same_pixels():
    images = strokes(5)
    outs = [
        Augment()(images.reshape(shape), np.random.default_rng(3)).reshape(5, 28, 28)
        for shape in [(5, 784), (5, 28, 28), (5, 1, 28, 28)]
    ]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_float64_input_gives_float32_output():
    out = Augment()(strokes(3).astype(np.float64), np.random.default_rng(0))
    assert out.dtype == np.float32


def test_values_stay_in_unit_interval():
    out = Augment(**STRONG)(strokes(64), np.random.default_rng(0))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_same_seed_same_output_different_seed_different_output():
    images = strokes(20)
    a = Augment()(images, np.random.default_rng(7))
    b = Augment()(images, np.random.default_rng(7))
    c = Augment()(images, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def chunking_tolerance(augment: Augment, size: int = 28) -> float:
    """How far two chunkings may differ: float32 rounding of the elastic field, carried into the pixels.

    The field ``alpha G u G`` is two float32 products of ``size`` terms each, whose rounding the BLAS may
    order differently for products of other shapes (chunks of 7 and of 64 images): each product is off by
    at most ``size`` units of float32 rounding of its largest sum, ``alpha``. Bilinear resampling changes a
    pixel by at most 1 per pixel of displacement in each of the two coordinates (ink lies in [0, 1]).
    """
    field_error = 2 * size * np.finfo(np.float32).eps * augment.elastic_alpha  # pixels of displacement
    return 2 * field_error + 4 * np.finfo(np.float32).eps  # both coordinates, plus the resampling itself


def test_chunking_does_not_change_the_result(monkeypatch):
    """The same random numbers in the same order; only the products' shapes differ with the chunk."""
    images = strokes(150)
    augment = Augment()
    whole = augment(images, np.random.default_rng(1))
    monkeypatch.setattr(augment_module, "CHUNK", 7)  # 21 full chunks and a partial one
    chunked = augment(images, np.random.default_rng(1))
    tolerance = chunking_tolerance(augment)  # 4.5e-4 for alpha = 34: a ninth of one grey level, 1/255
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=tolerance)


def test_empty_batch():
    out = Augment()(np.zeros((0, 784), dtype=np.float32), np.random.default_rng(0))
    assert out.shape == (0, 784) and out.dtype == np.float32


def test_all_distortions_off_is_the_identity():
    images = np.random.default_rng(0).random((70, 28, 28), dtype=np.float32)  # ink up to the border
    np.testing.assert_array_equal(Augment(**OFF)(images, np.random.default_rng(0)), images)


def test_non_square_images_as_three_dimensional_arrays():
    images = np.random.default_rng(0).random((3, 20, 30), dtype=np.float32)
    np.testing.assert_array_equal(Augment(**OFF)(images, np.random.default_rng(0)), images)
    assert Augment()(images, np.random.default_rng(0)).shape == (3, 20, 30)


def test_the_named_augmentations_live_in_imaging_not_data():
    import digitnet.data
    import digitnet.imaging

    assert digitnet.imaging.Augment is Augment and digitnet.imaging.AUGMENTATIONS is AUGMENTATIONS
    assert AUGMENTATIONS["elastic"] == Augment()
    assert AUGMENTATIONS["affine"] == Augment(elastic_alpha=0.0)
    assert not hasattr(digitnet.data, "Augment") and not hasattr(digitnet.data, "augment")


def test_augment_is_frozen_data():
    augment = Augment(rotation=15)
    with pytest.raises(dataclasses.FrozenInstanceError):
        augment.rotation = 20
    assert Augment(**dataclasses.asdict(augment)) == augment  # round trips through a config dict


def test_centre_of_mass_stays_within_the_shift_bound():
    rows, cols = np.mgrid[0:28, 0:28] - 13.5
    ring = np.clip(1.5 - np.abs(np.hypot(rows, cols) - 6), 0, 1).astype(np.float32)  # centred on (13.5, 13.5)
    images = np.repeat(ring[None], 200, axis=0)
    out = Augment(shift=2, elastic_alpha=0)(images, np.random.default_rng(0))
    offset = centres_of_mass(out) - 13.5  # (N, 2)
    assert np.abs(offset).max() <= 2 + 0.05
    assert np.abs(offset).max() > 1.5  # the shifts do use their range


# --- the elastic field ----------------------------------------------------------------------------


def test_elastic_field_is_the_smoothed_uniform_noise():
    n, h, w, alpha, sigma = 3, 12, 10, 5.0, 2.0
    d = elastic_displacement(np.random.default_rng(4), n, (h, w), alpha=alpha, sigma=sigma)
    u = 2 * np.random.default_rng(4).random((n, 2, h, w), dtype=np.float32).astype(np.float64) - 1
    # Separable convolution with the normalised Gaussian, zero padding, done the slow way.

    def convolve(v, size):  # v convolved with the kernel over offsets |k| < size, normalised; len(v) = size
        k = np.arange(-(size - 1), size)
        kernel = np.exp(-0.5 * (k / sigma) ** 2) / np.exp(-0.5 * (k / sigma) ** 2).sum()
        return np.convolve(v, kernel)[size - 1 : 2 * size - 1]  # the full convolution's centre

    by_rows = np.apply_along_axis(convolve, 2, u, h)  # (n, 2, H, W), each column convolved
    expected = alpha * np.apply_along_axis(convolve, 3, by_rows, w)  # then each row
    assert d.shape == (n, 2, h, w) and d.dtype == np.float32
    np.testing.assert_allclose(d, expected, atol=1e-5)


def test_elastic_field_is_smooth_and_bounded():
    d = elastic_displacement(np.random.default_rng(0), 100, (28, 28), alpha=34, sigma=6)
    assert np.abs(d).max() <= 34
    assert abs(d.mean()) < 0.1
    assert 0.3 < d[:, :, 4:24, 4:24].std() < 3  # about 0.9 pixel
    for axis in (2, 3):  # neighbouring displacements, down and across
        a = np.moveaxis(d, axis, -1)[..., :-1].ravel()
        b = np.moveaxis(d, axis, -1)[..., 1:].ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.95


def test_elastic_alone_moves_ink_but_keeps_the_image():
    images = strokes(30)
    out = Augment(**{**OFF, "elastic_alpha": 34, "elastic_sigma": 6})(images, np.random.default_rng(0))
    assert not np.allclose(out, images, atol=0.1)
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(out, images)]
    assert min(correlation) > 0.3


# --- each image stays itself -----------------------------------------------------------------------


def test_ink_is_roughly_preserved_for_mild_settings():
    images = strokes(100)
    out = Augment(**MILD)(images, np.random.default_rng(0))
    ratio = out.sum(axis=(1, 2)) / images.sum(axis=(1, 2))  # (N,)
    assert 0.8 < ratio.min() and ratio.max() < 1.25
    assert abs(ratio.mean() - 1) < 0.03


def unit_rows(images: np.ndarray) -> np.ndarray:
    """Each image minus its mean, scaled to norm 1, so dot products are correlations: (N, ...) -> (N, D)."""
    a = images.reshape(len(images), -1).astype(np.float64)  # (N, D)
    a = a - a.mean(axis=1, keepdims=True)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_examples_are_not_reordered():
    pool_images = strokes(300, seed=1)
    pool = unit_rows(pool_images)  # (300, D)
    chosen = []  # images that correlate less than 0.4 with each other, so each can be told apart
    for k in range(len(pool)):
        if all(pool[k] @ pool[j] < 0.4 for j in chosen):
            chosen.append(k)
    assert len(chosen) >= 15
    images = pool_images[chosen].reshape(-1, 784)  # (N, D)
    out = Augment(**MILD)(images, np.random.default_rng(0))  # (N, D)
    correlation = unit_rows(out) @ unit_rows(images).T  # (N, N): output k against input j
    np.testing.assert_array_equal(np.argmax(correlation, axis=1), np.arange(len(images)))  # each its own


# --- bad arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("shift", -1),
        ("shift", math.nan),
        ("shift", math.inf),
        ("shift", True),
        ("shift", "2"),
        ("rotation", -1),
        ("rotation", 181),
        ("scale", -0.1),
        ("scale", 1.0),
        ("shear", 46),
        ("shear", -5),
        ("elastic_alpha", -1),
        ("elastic_sigma", 0),
        ("elastic_sigma", math.inf),
        ("elastic_sigma", None),
    ],
)
def test_bad_fields_are_refused(field, value):
    with pytest.raises(ValueError, match=f"Augment.{field} must be") as info:
        Augment(**{field: value})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "images, fragment",
    [
        (np.zeros((2, 784), dtype=np.uint8), "floating point"),
        (np.zeros((2, 783), dtype=np.float32), "square"),
        (np.zeros((2, 3, 28, 28), dtype=np.float32), "(N, 1, H, W)"),
        (np.zeros(784, dtype=np.float32), "(N, D)"),
    ],
)
def test_bad_images_are_refused(images, fragment):
    with pytest.raises(ValueError) as info:
        Augment()(images, np.random.default_rng(0))
    assert fragment in str(info.value)


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        Augment()(strokes(1), 0)
