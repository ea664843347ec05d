"""The Gaussian blur: one normalised kernel, applied by sliding windows or as a matrix.

Shapes use the package's letters: N images, H rows, W columns; ``r`` is the kernel's radius.

**The kernel.** Offsets ``k = -r .. r`` are weighted by

    g(k) = exp(-k^2 / 2 sigma^2) / sum_{|j| <= r} exp(-j^2 / 2 sigma^2)

so the weights sum to 1 (in float64): a blur moves ink around but, away from the edges, keeps its total.

**The blur** is separable: the kernel runs down every column, then along every row, with zero outside
the array, so ink that the kernel spreads past an edge is lost. Two ways to apply it are kept, each for
the arithmetic its caller's results were made with (so each caller's results stay bit-for-bit what they
were):

* :func:`blur` blurs one image of any size with the kernel cut at ``r = ceil(3 sigma)`` (99.7% of its
  weight), in float64, each output a dot product over its window. MNIST-style preprocessing uses it to
  redraw thin strokes (:mod:`digitnet.imaging.mnist_style`).
* :func:`gaussian_matrix` writes the kernel over every offset that fits an image of ``size`` pixels
  (``r = size - 1``, so nothing is cut off) as a float32 ``(size, size)`` matrix ``G``: ``G @ v``
  blurs a column ``v`` and ``u @ G`` (``G`` is symmetric) the rows of ``u``. A whole batch of small
  images is then two matrix products, ``G_H u G_W``, which is how augmentation smooths its elastic fields
  (:mod:`digitnet.imaging.augment`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["blur", "gaussian_kernel", "gaussian_matrix"]


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """The normalised Gaussian weights ``g(k)`` of the offsets ``k = -radius .. radius``.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    radius : int
        The largest offset weighted, >= 0; the weights are normalised over the offsets kept.

    Returns
    -------
    numpy.ndarray
        float64 weights summing to 1, symmetric, largest at the centre (offset 0).

    Shape
    -----
    (2 radius + 1,).

    Examples
    --------
    >>> gaussian_kernel(1.0, 1).round(3)
    array([0.274, 0.452, 0.274])
    """
    k = np.arange(-radius, radius + 1, dtype=np.float64)  # (2r+1,) the offsets
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    kernel /= kernel.sum()
    return kernel


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur one image with the Gaussian cut at ``ceil(3 sigma)`` pixels, zero outside it.

    ``out[i, j] = sum_{a, b} g(a) g(b) image[i + a, j + b]`` over ``|a|, |b| <= ceil(3 sigma)``, with
    ``image = 0`` outside its bounds; columns are blurred first, then rows.

    Parameters
    ----------
    image : numpy.ndarray
        Pixels, float32 or float64; not modified.
    sigma : float
        Standard deviation of the Gaussian in pixels, > 0.

    Returns
    -------
    numpy.ndarray
        A new float64 array.

    Shape
    -----
    (H, W) -> (H, W).
    """
    r = math.ceil(3 * sigma)
    kernel = gaussian_kernel(sigma, r)  # (2r+1,)
    for axis in (0, 1):
        padded = np.pad(image, [(r, r) if ax == axis else (0, 0) for ax in (0, 1)])  # 2r more along axis
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1, axis=axis)  # (H, W, 2r+1)
        image = windows @ kernel  # (H, W, 2r+1) @ (2r+1,) -> (H, W)
    return image


@functools.lru_cache(maxsize=16)
def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """The Gaussian over every offset that fits ``size`` pixels, as a matrix: ``G[i, j] = g(i - j)``.

    With ``r = size - 1`` no weight is cut off inside the image; ``G @ v`` is ``v`` blurred, zero
    outside. Cached and shared, so read-only.

    Parameters
    ----------
    size : int
        The number of pixels ``v`` has.
    sigma : float
        Standard deviation of the Gaussian in pixels, > 0.

    Returns
    -------
    numpy.ndarray
        Symmetric, float32 (the kernel is computed in float64, then rounded).

    Shape
    -----
    (size, size).
    """
    kernel = gaussian_kernel(sigma, size - 1)  # (2 size - 1,) every offset that fits
    i = np.arange(size)
    g = kernel[i[:, None] - i[None, :] + size - 1].astype(np.float32)  # (size, size), symmetric
    g.flags.writeable = False
    return g
