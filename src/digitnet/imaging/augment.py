"""Random distortions of digit images, to train on more handwriting than MNIST holds.

A network that sees each training digit slightly moved, turned, resized, slanted and wobbled learns
that none of these change the digit, and generalises better (Simard, Steinkraus & Platt, 2003, "Best
practices for convolutional neural networks applied to visual document analysis"). :class:`Augment`
holds the size of each distortion; calling it distorts a batch, every image differently.

Shapes use the package's letters: N images, H rows, W columns, D = H * W pixels.

Coordinates are array indices ``(row, column)``: row 0 is the top, pixel ``(i, j)`` has its centre at
``(i, j)``, and the image's centre is ``c = ((H - 1) / 2, (W - 1) / 2)``, (13.5, 13.5) for MNIST.

**The forward map.** An image's affine part moves a source point ``p`` to

    p' = M (p - c) + c + t,      M = R(theta) @ Sh(phi) @ (s I)

    R(theta) = [[cos theta, -sin theta],     turns the digit anticlockwise on screen by theta
                [sin theta,  cos theta]]     (rows grow downwards)
    Sh(phi)  = [[1,         0],              column offset -tan(phi) * (row - c_row): a positive
                [-tan phi,  1]]              phi slants the top to the right, like italics
    s                                        enlarges the digit by the factor s

and ``t = (t_row, t_col)`` moves it down and to the right. :func:`affine_matrices` writes this as one
``(2, 3)`` matrix ``[M | c + t - M c]`` per image.

**The inverse map.** Resampling asks, for every output pixel ``p'``, where in the source to read:

    q(p') = M^-1 (p' - c - t) + c + d(p')

where ``d`` is the elastic displacement field (zero when elastic distortion is off), added to the
source coordinate that the affine map reads from.

**The elastic field** (Simard et al., section 2): for each image, two fields ``u_row, u_col`` of
independent ``U[-1, 1]`` values, one per pixel, smoothed by a Gaussian of standard deviation ``sigma``
and scaled by ``alpha``:

    d_k = alpha * G_H u_k G_W,      G[i, j] = g(i - j) / sum_{|k| < size} g(k),   g(x) = exp(-x^2 / 2 sigma^2)

Multiplying by the symmetric Gaussian matrix on each side is exactly the separable 2-D convolution
with the normalised kernel, zero outside the image. The kernel sums to at most 1, so ``|d| <= alpha``.

**Bilinear resampling** of ``q = (y, x)`` with ``y0 = floor(y)``, ``x0 = floor(x)``, ``a = y - y0``,
``b = x - x0``:

    out(p') = (1 - a)(1 - b) in[y0, x0]     + (1 - a) b in[y0, x0 + 1]
            +      a (1 - b) in[y0 + 1, x0] +      a  b in[y0 + 1, x0 + 1]

with ``in = 0`` outside the image, computed as ``top + a (bottom - top)``, ``top = in[y0, x0] +
b (in[y0, x0 + 1] - in[y0, x0])``. The weights are non-negative and sum to 1, so ink in ``[0, 1]``
stays in ``[0, 1]`` (the output is clipped to it all the same, against rounding). One resampling per
image, whatever the distortions, so the digit is blurred once, not once per distortion.

Everything is vectorised over the batch; images are processed in cache-sized chunks of
``_CHUNK`` images, which gives the same result as one pass (the random numbers are drawn in the same
order) but keeps every temporary array in the CPU's cache.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AUGMENTATIONS", "Augment", "affine_matrices", "elastic_displacement", "warp"]

_CHUNK = 64  # images per pass: ~200 kB per temporary array, in L2; 2-3x faster than 1,024 at a time


@dataclass(frozen=True)
class Augment:
    """Sizes of the random distortions applied to each training image; call it on a batch.

    Each image gets its own parameters, drawn independently and uniformly in the ranges below. The
    defaults suit 28x28 MNIST digits, which MNIST fitted into a 20x20 box centred by mass in the
    28x28 field, leaving about 4 pixels of margin; setting every field to 0 gives the identity.

    Parameters
    ----------
    shift : float, optional
        Largest translation in pixels, drawn in ``[-shift, shift]`` for rows and for columns,
        sub-pixel included. Default 2: centring by mass varies by about that much, and 2 of the 4
        margin pixels rarely push ink off the field.
    rotation : float, optional
        Largest rotation in degrees, drawn in ``[-rotation, rotation]``, about the image centre;
        0 to 180. Default 10: the tilt of upright handwriting; much more starts to mix 1 with 7.
    scale : float, optional
        Largest relative change of size: the factor is drawn in ``[1 - scale, 1 + scale]``, the
        same for both axes, about the image centre; 0 to less than 1. Default 0.1: a 20 pixel digit
        becomes 18 to 22 pixels, still inside the field.
    shear : float, optional
        Largest horizontal shear angle in degrees, drawn in ``[-shear, shear]``; a shear of ``phi``
        moves each row ``-tan(phi)`` pixels sideways per row below the centre (positive: top to the
        right, like italics); 0 to 45. Default 10 (slope 0.18): slant varies that much between
        writers.
    elastic_alpha : float, optional
        Scale of the elastic displacement field in pixels; 0 switches elastic distortion off (and
        saves nearly half the time). No displacement exceeds it. Default 34: Simard et al.'s
        value, also used by Ciresan et al. (2010) together with affine distortions.
    elastic_sigma : float, optional
        Standard deviation in pixels of the Gaussian that smooths the field; more than 0. Default 6:
        Ciresan et al.'s (2010) value for elastic on top of affine distortions, giving displacements
        of about 0.9 pixels (standard deviation) that vary smoothly across the digit; Simard et al.'s
        4 (1.4 pixels) on top of the affine defaults crumples many digits.

    Raises
    ------
    ValueError
        If a field is not a finite real number in its range.

    Shape
    -----
    images : (N, D) with D = H * W a square number, (N, H, W) or (N, 1, H, W). Output: the same.

    Examples
    --------
    >>> augment = Augment(shift=2, rotation=10)
    >>> batch = np.zeros((64, 784), dtype=np.float32)
    >>> augment(batch, np.random.default_rng(0)).shape
    (64, 784)
    """

    shift: float = 2.0
    rotation: float = 10.0
    scale: float = 0.1
    shear: float = 10.0
    elastic_alpha: float = 34.0
    elastic_sigma: float = 6.0

    def __post_init__(self):
        _check_range("shift", self.shift, 0.0, math.inf, "a number of pixels >= 0")
        _check_range("rotation", self.rotation, 0.0, 180.0, "degrees in [0, 180]")
        _check_range("scale", self.scale, 0.0, 1.0, "a relative change in [0, 1)", high_open=True)
        _check_range("shear", self.shear, 0.0, 45.0, "degrees in [0, 45]")
        _check_range("elastic_alpha", self.elastic_alpha, 0.0, math.inf, "a number of pixels >= 0")
        _check_range(
            "elastic_sigma", self.elastic_sigma, 0.0, math.inf, "a number of pixels > 0", low_open=True
        )

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Distort each image of a batch with its own random parameters.

        Parameters
        ----------
        images : numpy.ndarray
            Floating-point pixels in ``[0, 1]``, 0 background and 1 ink; not modified.
        rng : numpy.random.Generator
            The only source of randomness: the same generator state and batch give bit-identical
            output. The result depends on how a dataset is cut into batches, since each call draws
            all of its batch's parameters first, then its elastic fields.

        Returns
        -------
        numpy.ndarray
            A new float32 array of the same shape, values in ``[0, 1]``; image ``k`` of the output is
            a distortion of image ``k`` of the input, so labels stay valid as they are.

        Shape
        -----
        (N, D) with D = H * W a square number, (N, H, W) or (N, 1, H, W) -> the same.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
        x, size = _as_images(images)  # (N, H, W) float32
        n = len(x)
        matrices = affine_matrices(
            rotation=rng.uniform(-self.rotation, self.rotation, n),  # (N,) degrees
            shear=rng.uniform(-self.shear, self.shear, n),  # (N,) degrees
            scale=1.0 + rng.uniform(-self.scale, self.scale, n),  # (N,) factors
            shift=rng.uniform(-self.shift, self.shift, (n, 2)),  # (N, 2) pixels (row, column)
            size=size,
        )
        inverse = _invert(matrices)  # (N, 2, 3) output pixel -> source pixel
        out = np.empty_like(x)  # (N, H, W)
        work = _Workspace(min(n, _CHUNK), size)
        for start in range(0, n, _CHUNK):
            chunk = slice(start, start + _CHUNK)
            displacement = None
            if self.elastic_alpha > 0:
                count = len(out[chunk])  # _CHUNK, or fewer in the last chunk
                displacement = work.elastic(
                    rng, count, self.elastic_alpha, self.elastic_sigma
                )  # (count, 2, H, W)
            work.resample(x[chunk], inverse[chunk], displacement, out[chunk])
        return out.reshape(np.shape(images))  # (N, H, W) -> the input's shape


def affine_matrices(rotation, shear, scale, shift, size: tuple[int, int]) -> np.ndarray:
    """One forward affine matrix per image: ``p' = M (p - c) + c + t`` as ``[M | c + t - M c]``.

    ``M = R(rotation) @ Sh(shear) @ (scale I)`` about the image centre ``c``; see the module docstring
    for R and Sh and the directions of positive angles.

    Parameters
    ----------
    rotation : array_like
        Angles in degrees; positive turns the digit anticlockwise on screen.
    shear : array_like
        Shear angles in degrees; positive slants the top to the right.
    scale : array_like
        Size factors, positive; 1 keeps the size.
    shift : array_like
        Translations in pixels ``(down, right)``.
    size : tuple of int
        ``(H, W)``, which fixes the centre ``c = ((H - 1) / 2, (W - 1) / 2)``.

    Returns
    -------
    numpy.ndarray
        float64 matrices mapping source coordinates ``(row, column, 1)`` to output coordinates.

    Shape
    -----
    rotation, shear, scale : (N,) or scalars. shift : (N, 2) or (2,). Output : (N, 2, 3).
    """
    theta = np.radians(np.asarray(rotation, dtype=np.float64))
    slope = np.tan(np.radians(np.asarray(shear, dtype=np.float64)))
    factor = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    n = np.broadcast_shapes(theta.shape, slope.shape, factor.shape, shift.shape[:-1])
    n = n[0] if n else 1
    theta, slope, factor = (np.broadcast_to(a, (n,)) for a in (theta, slope, factor))
    shift = np.broadcast_to(shift, (n, 2))
    cos, sin = np.cos(theta), np.sin(theta)
    # R @ Sh = [[cos + sin tan, -sin], [sin - cos tan, cos]], then times the scale factor.
    m = np.empty((n, 2, 3))
    m[:, 0, 0] = (cos + sin * slope) * factor
    m[:, 0, 1] = -sin * factor
    m[:, 1, 0] = (sin - cos * slope) * factor
    m[:, 1, 1] = cos * factor
    centre = (np.asarray(size, dtype=np.float64) - 1) / 2  # (2,)
    m[:, :, 2] = centre + shift - m[:, :, :2] @ centre  # (N, 2, 2) @ (2,) -> (N, 2)
    return m


def elastic_displacement(
    rng: np.random.Generator, n: int, size: tuple[int, int], *, alpha: float, sigma: float
) -> np.ndarray:
    """Random smooth displacement fields: ``alpha * G_H u G_W`` with ``u ~ U[-1, 1]`` per pixel.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the ``n * 2 * H * W`` uniform values.
    n : int
        Number of images.
    size : tuple of int
        ``(H, W)``.
    alpha : float
        Scale in pixels; every displacement lies in ``[-alpha, alpha]``.
    sigma : float
        Standard deviation of the smoothing Gaussian in pixels, > 0.

    Returns
    -------
    numpy.ndarray
        New float32 displacements ``(d_row, d_col)`` per pixel, in pixels.

    Shape
    -----
    (n, 2, H, W).
    """
    return _Workspace(n, size).elastic(rng, n, alpha, sigma)


def warp(images: np.ndarray, matrices: np.ndarray, displacement: np.ndarray | None = None) -> np.ndarray:
    """Resample each image through its affine matrix and displacement field, bilinearly, zero outside.

    Parameters
    ----------
    images : numpy.ndarray
        Pixels, float.
    matrices : numpy.ndarray
        Forward maps from source to output coordinates, as made by :func:`affine_matrices`.
    displacement : numpy.ndarray, optional
        Added to the source coordinate read for each output pixel, ``(d_row, d_col)`` in pixels.

    Returns
    -------
    numpy.ndarray
        New float32 images, clipped to ``[0, 1]``.

    Shape
    -----
    images : (N, H, W). matrices : (N, 2, 3). displacement : (N, 2, H, W). Output : (N, H, W).

    Raises
    ------
    ValueError
        If the shapes do not agree or a matrix is not invertible.
    """
    x, size = _as_images(images)  # (N, H, W) float32
    n = len(x)
    matrices = np.asarray(matrices, dtype=np.float64)
    if matrices.shape != (n, 2, 3):
        raise ValueError(f"matrices must have shape ({n}, 2, 3) for {n} images, not {matrices.shape}")
    if displacement is not None:
        displacement = np.asarray(displacement, dtype=np.float32)
        if displacement.shape != (n, 2, *size):
            raise ValueError(
                f"displacement must have shape ({n}, 2, {size[0]}, {size[1]}), not {displacement.shape}"
            )
    inverse = _invert(matrices)  # (N, 2, 3)
    out = np.empty_like(x)  # (N, H, W)
    work = _Workspace(min(n, _CHUNK), size)
    for start in range(0, n, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        work.resample(
            x[chunk], inverse[chunk], None if displacement is None else displacement[chunk], out[chunk]
        )
    return out


class _Workspace:
    """Buffers for one chunk of images, allocated once per call and reused for every chunk.

    Reusing them matters: a fresh 200 kB temporary per operation is often a fresh memory mapping
    from the C library, and faulting its pages in doubled the time of a chunk.

    Shape: every buffer holds up to ``chunk`` images of ``(H, W)``; methods use the first ``n``.
    """

    def __init__(self, chunk: int, size: tuple[int, int]):
        h, w = self.size = size
        # One zero row and column before the image and two after: every clipped source coordinate in
        # [-1, H] then has both its neighbours inside the padded array, and those outside read 0.
        self.padded = np.zeros((chunk, h + 3, w + 3), dtype=np.float32)  # borders stay 0
        self.temps = np.empty((6, chunk, h, w), dtype=np.float32)  # six (n, H, W) temporaries
        self.index = np.empty((2, chunk, h, w), dtype=np.intp)  # two (n, H, W) flat indices
        self.noise = np.empty((chunk, 2, h, w), dtype=np.float32)
        self.field = np.empty((chunk, 2, h, w), dtype=np.float32)

    def elastic(self, rng: np.random.Generator, n: int, alpha: float, sigma: float) -> np.ndarray:
        """``alpha * G_H u G_W`` with ``u ~ U[-1, 1]``, in a buffer that the next call overwrites.

        Shape: (n, 2, H, W).
        """
        h, w = self.size
        u = rng.random(dtype=np.float32, out=self.noise[:n])  # (n, 2, H, W) in [0, 1)
        u *= 2
        u -= 1  # in [-1, 1)
        rows = self.field[:n].reshape(n * 2 * h, w)  # (n, 2, H, W) -> (2nH, W), a view
        np.matmul(u.reshape(n * 2 * h, w), _gaussian_matrix(w, sigma), out=rows)  # u G_W
        smooth = u.reshape(n * 2, h, w)  # (n, 2, H, W) -> (2n, H, W), the noise buffer reused
        np.matmul(np.float32(alpha) * _gaussian_matrix(h, sigma), rows.reshape(n * 2, h, w), out=smooth)
        return smooth.reshape(n, 2, h, w)  # (2n, H, W) -> (n, 2, H, W)

    def resample(
        self, images: np.ndarray, inverse: np.ndarray, displacement: np.ndarray | None, out: np.ndarray
    ) -> None:
        """Bilinear resampling of one chunk into ``out``; see the module docstring for the maths.

        Shape: images (n, H, W), inverse (n, 2, 3), displacement (n, 2, H, W) or None, out (n, H, W).
        """
        n, h, w = images.shape
        hp, wp = h + 3, w + 3
        padded = self.padded[:n]
        padded[:, 1 : h + 1, 1 : w + 1] = images
        flat = padded.reshape(n * hp * wp)  # (n, H+3, W+3) -> (n (H+3) (W+3),), a view
        y, x, y0, x0, near, far = self.temps[:, :n]  # six (n, H, W) buffers
        corner, neighbour = self.index[:, :n]  # two (n, H, W) buffers

        # Source coordinates q = A p' + b of every output pixel p' = (i, j), A and b from the inverse map.
        inv = inverse.astype(np.float32)[:, :, :, None, None]  # (n, 2, 3, 1, 1) to broadcast over pixels
        i = np.arange(h, dtype=np.float32)[:, None]  # (H, 1)
        j = np.arange(w, dtype=np.float32)  # (W,)
        np.add(inv[:, 0, 0] * i + inv[:, 0, 2], inv[:, 0, 1] * j, out=y)  # (n, H, 1) + (n, 1, W) -> (n, H, W)
        np.add(inv[:, 1, 0] * i + inv[:, 1, 2], inv[:, 1, 1] * j, out=x)
        if displacement is not None:
            y += displacement[:, 0]
            x += displacement[:, 1]
        np.clip(y, -1, h, out=y)  # beyond one pixel outside, everything reads 0 anyway
        np.clip(x, -1, w, out=x)

        np.floor(y, out=y0)
        np.floor(x, out=x0)
        y -= y0  # now the weight a of the lower row
        x -= x0  # now the weight b of the right column
        # Flat index of (y0, x0) in the padded chunk; below 2^24, so exact in float32 for chunks this small.
        y0 *= wp
        y0 += x0
        y0 += (np.arange(n, dtype=np.float32) * (hp * wp) + (wp + 1))[:, None, None]  # image offset + padding
        np.copyto(corner, y0, casting="unsafe")  # exact integers, float32 -> intp

        # Gathers: the indices are in range by construction; mode="clip" lets take() write into out
        # directly (with the default "raise" it goes through a buffer) and never changes an index here.
        top, bottom = y0, x0  # free again: reuse them
        flat.take(corner, out=top, mode="clip")  # in[y0, x0]
        flat.take(np.add(corner, 1, out=neighbour), out=far, mode="clip")  # in[y0, x0 + 1]
        far -= top
        far *= x
        top += far  # in[y0, x0] + b (in[y0, x0 + 1] - in[y0, x0])
        corner += wp  # now the index of (y0 + 1, x0)
        flat.take(corner, out=bottom, mode="clip")  # in[y0 + 1, x0]
        flat.take(np.add(corner, 1, out=neighbour), out=near, mode="clip")  # in[y0 + 1, x0 + 1]
        near -= bottom
        near *= x
        bottom += near
        bottom -= top
        bottom *= y
        top += bottom  # top + a (bottom - top)
        np.clip(top, 0.0, 1.0, out=out)


def _invert(matrices: np.ndarray) -> np.ndarray:
    """Inverse affine maps: ``p = M^-1 p' - M^-1 b`` for ``p' = M p + b``. Shape: (N, 2, 3) -> (N, 2, 3)."""
    m = matrices[:, :, :2]  # (N, 2, 2)
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]  # (N,)
    if not np.all(np.isfinite(det)) or np.any(np.abs(det) < 1e-12):
        bad = int(np.argmin(np.where(np.isfinite(det), np.abs(det), -1.0)))
        raise ValueError(f"affine matrix {bad} is not invertible (determinant {det[bad]!r})")
    inverse = np.empty_like(matrices)
    inverse[:, 0, 0] = m[:, 1, 1] / det
    inverse[:, 0, 1] = -m[:, 0, 1] / det
    inverse[:, 1, 0] = -m[:, 1, 0] / det
    inverse[:, 1, 1] = m[:, 0, 0] / det
    b = matrices[:, :, 2, None]  # (N, 2, 1)
    inverse[:, :, 2] = -(inverse[:, :, :2] @ b)[:, :, 0]  # (N, 2, 2) @ (N, 2, 1) -> (N, 2, 1) -> (N, 2)
    return inverse


@functools.lru_cache(maxsize=16)
def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """``G[i, j] = g(i - j) / sum_{|k| < size} g(k)``: the normalised Gaussian kernel as a matrix.

    ``G @ v`` convolves ``v`` with the kernel, zero outside. Read-only, since it is shared.
    Shape: (size, size), float32.
    """
    k = np.arange(-(size - 1), size, dtype=np.float64)  # (2 size - 1,) every offset that fits
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    kernel /= kernel.sum()
    i = np.arange(size)
    g = kernel[i[:, None] - i[None, :] + size - 1].astype(np.float32)  # (size, size), symmetric
    g.flags.writeable = False
    return g


def _as_images(images) -> tuple[np.ndarray, tuple[int, int]]:
    """A float32 ``(N, H, W)`` view (or copy) of a batch, and ``(H, W)``; ValueError if it is not one."""
    a = np.asarray(images)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(
            f"images must be floating point with ink in [0, 1], not {a.dtype}; divide uint8 pixels by 255"
        )
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            raise ValueError(
                f"images of shape {a.shape} hold {a.shape[1]} pixels each, not a square number; "
                "pass (N, H, W) for non-square images"
            )
        h = w = side
    elif a.ndim >= 3 and all(d == 1 for d in a.shape[1:-2]):
        h, w = a.shape[-2:]
    else:
        raise ValueError(f"images must have shape (N, D), (N, H, W) or (N, 1, H, W), not {a.shape}")
    return a.astype(np.float32, copy=False).reshape(len(a), h, w), (h, w)  # (N, *) -> (N, H, W)


def _check_range(
    name: str, value: object, low: float, high: float, meaning: str, *, low_open=False, high_open=False
) -> None:
    """Raise ValueError unless ``value`` is a finite real number (not a bool) in the range."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"Augment.{name} must be {meaning}, not {value!r}")


AUGMENTATIONS: dict[str, Augment] = {
    "affine": Augment(elastic_alpha=0.0),
    "elastic": Augment(),
}
"""Named augmentations, as ``TrainConfig.augment`` and ``digitnet train --augment`` spell them: shift,
rotation, scale and shear; or those plus Simard's elastic distortion."""
