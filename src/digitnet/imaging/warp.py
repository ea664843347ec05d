"""Bilinear resampling of images through affine maps: the one warper, for augmentation and experiments.

Shapes use the package's letters: N images, H rows, W columns.

Coordinates are array indices ``(row, column)``: row 0 is the top, pixel ``(i, j)`` has its centre at
``(i, j)``, and the image's centre is ``c = ((H - 1) / 2, (W - 1) / 2)``, (13.5, 13.5) for MNIST.

**The sampling grid.** Resampling asks, for every output pixel ``p'``, where in the source to read.
For an affine map ``p' = M (p - c) + c + t`` (:mod:`digitnet.imaging.affine`) that is

    q(p') = M^-1 (p' - c - t) + c + d(p')

where ``d`` is an optional displacement field (augmentation's elastic distortion), added to the source
coordinate that the affine map reads from. The ``q`` of every output pixel is the *sampling grid*.

**Bilinear resampling** of ``q = (y, x)`` with ``y0 = floor(y)``, ``x0 = floor(x)``, ``a = y - y0``,
``b = x - x0``:

    out(p') = (1 - a)(1 - b) in[y0, x0]     + (1 - a) b in[y0, x0 + 1]
            +      a (1 - b) in[y0 + 1, x0] +      a  b in[y0 + 1, x0 + 1]

with ``in = 0`` outside the image. The weights are non-negative and sum to 1, so ink in ``[0, 1]`` stays
in ``[0, 1]`` (the output is clipped to it all the same, against rounding). A coordinate more than one
pixel outside the image is first clipped to one pixel outside: every pixel it reads is 0 either way.

**Two arithmetics, one algorithm.** Both entry points gather the same four neighbours from one padded
copy of the images; they differ only in the rounding of the grid and of the weighted sum (they agree to
about 1e-6, not to the bit), and each keeps the rounding its callers' results were made with:

* :func:`warp` (augmentation, through :meth:`Resampler.affine`): the grid is computed per image in
  float32, ``q = A p' + b`` from the inverse matrix ``[A | b]``, and the sum as two linear interpolations,
  ``top = in[y0, x0] + b (in[y0, x0 + 1] - in[y0, x0])`` (likewise ``bottom`` from row ``y0 + 1``) and
  ``out = top + a (bottom - top)``: three multiplications, the fast form for training.
* :func:`warp_about` (the robustness experiment): one map for the whole batch, ``q = c + A (p' - c)``,
  computed once in float64 and its weights ``a``, ``b`` rounded to the images' dtype; the sum is
  ``top = (1 - b) in[y0, x0] + b in[y0, x0 + 1]``, ``out = (1 - a) top + a bottom``.

Images are resampled in cache-sized chunks of :data:`CHUNK` images, in buffers allocated once per call
(:class:`Resampler`); every operation is per pixel, so chunking does not change the result.
"""

from __future__ import annotations

import math

import numpy as np

from digitnet.imaging.affine import invert_affine

__all__ = ["CHUNK", "Resampler", "as_images", "warp", "warp_about"]

CHUNK = 64  # images per pass: ~200 kB per temporary array, in L2; 2-3x faster than 1,024 at a time


def warp(images: np.ndarray, matrices: np.ndarray, displacement: np.ndarray | None = None) -> np.ndarray:
    """Resample each image through its own affine matrix and displacement field, bilinearly, 0 outside.

    Float32 arithmetic throughout (see the module docstring), as augmentation uses it.

    Parameters
    ----------
    images : numpy.ndarray
        Pixels, float; computed in float32.
    matrices : numpy.ndarray
        Forward maps from source to output coordinates, as made by
        :func:`~digitnet.imaging.affine.affine_matrices`.
    displacement : numpy.ndarray, optional
        Added to the source coordinate read for each output pixel, ``(d_row, d_col)`` in pixels.

    Returns
    -------
    numpy.ndarray
        New float32 images, clipped to ``[0, 1]``.

    Shape
    -----
    images : (N, H, W), or as :func:`as_images` takes. matrices : (N, 2, 3). displacement :
    (N, 2, H, W). Output : (N, H, W).

    Raises
    ------
    ValueError
        If the shapes do not agree or a matrix is not invertible.
    """
    x, size = as_images(images)  # (N, H, W) float32
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
    inverse = invert_affine(matrices)  # (N, 2, 3)
    out = np.empty_like(x)  # (N, H, W)
    resampler = Resampler(min(n, CHUNK), size)
    for start in range(0, n, CHUNK):
        chunk = slice(start, start + CHUNK)
        d = None if displacement is None else displacement[chunk]
        resampler.affine(x[chunk], inverse[chunk], d, out[chunk])
    return out


def warp_about(images: np.ndarray, inverse: np.ndarray, centre: float | tuple[float, float]) -> np.ndarray:
    """Resample every image under one linear map about ``centre``, bilinearly, with 0 outside the field.

    The output pixel ``p`` reads the input at ``c + inverse @ (p - c)``; that grid is computed once for
    the batch, in float64, and the weighted sum in the images' dtype (see the module docstring).

    Parameters
    ----------
    images : numpy.ndarray
        Pixels in ``[0, 1]``, float32 or float64; not modified.
    inverse : array_like
        ``(2, 2)`` map from output offsets to input offsets, in ``(row, column)`` coordinates: the
        inverse of the distortion wanted (for a rotation by theta, the rotation by -theta).
    centre : float or tuple of float
        The fixed point ``c``, ``(row, column)``; one number for both.

    Returns
    -------
    numpy.ndarray
        New images of the input's dtype, clipped to ``[0, 1]``.

    Shape
    -----
    images : (N, H, W). inverse : (2, 2). Output : (N, H, W).

    Raises
    ------
    ValueError
        If the images are not a 3-D float32 or float64 array, or ``inverse`` is not a finite (2, 2) map.

    Examples
    --------
    >>> digits = np.zeros((1, 28, 28), dtype=np.float32)
    >>> digits[0, 14, 20] = 1.0  # 6 pixels right of (14, 14)
    >>> half_turn = np.array([[-1.0, 0.0], [0.0, -1.0]])
    >>> np.argwhere(warp_about(digits, half_turn, 14.0)[0]).tolist()  # now 6 pixels left of it
    [[14, 8]]
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"images must be float32 or float64 of shape (N, H, W), not {images.dtype}{images.shape}"
        )
    inverse = np.asarray(inverse, dtype=np.float64)
    if inverse.shape != (2, 2) or not np.all(np.isfinite(inverse)):
        raise ValueError(f"inverse must be a finite (2, 2) map, not {inverse!r}")
    n, h, w = images.shape
    c_row, c_col = (centre, centre) if np.ndim(centre) == 0 else centre
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")  # (H, W) each
    offsets = np.stack([rows - c_row, cols - c_col])  # (2, H, W)
    q = np.einsum("ab,bhw->ahw", inverse, offsets)  # (2, H, W): where each output pixel reads, less c
    q[0] += c_row
    q[1] += c_col
    np.clip(q[0], -1, h, out=q[0])  # beyond one pixel outside, everything reads 0 anyway
    np.clip(q[1], -1, w, out=q[1])
    floors = np.floor(q)  # (2, H, W): y0, x0
    weights = (q - floors).astype(images.dtype)  # (2, H, W): a, b
    out = np.empty_like(images)
    resampler = Resampler(min(n, CHUNK), (h, w), images.dtype)
    for start in range(0, n, CHUNK):
        chunk = slice(start, start + CHUNK)
        resampler.shared(images[chunk], floors, weights, out[chunk])
    return out


class Resampler:
    """Bilinear resampling of chunks of up to ``chunk`` images, in buffers allocated once and reused.

    Reusing them matters: a fresh 200 kB temporary per operation is often a fresh memory mapping from
    the C library, and faulting its pages in doubled the time of a chunk.

    Parameters
    ----------
    chunk : int
        The most images one call resamples.
    size : tuple of int
        ``(H, W)`` of every image.
    dtype : numpy.dtype, optional
        float32 (the default) or float64: the dtype of the images, the grid's fractions and the output.

    Shape
    -----
    Every buffer holds up to ``chunk`` images of ``(H, W)``; a call uses the first ``n``.
    """

    def __init__(self, chunk: int, size: tuple[int, int], dtype=np.float32):
        h, w = self.size = size
        self.dtype = np.dtype(dtype)
        # One zero row and column before the image and two after: every clipped source coordinate in
        # [-1, H] then has both its neighbours inside the padded array, and those outside read 0.
        self.padded = np.zeros((chunk, h + 3, w + 3), dtype=self.dtype)  # borders stay 0
        self.temps = np.empty((6, chunk, h, w), dtype=self.dtype)  # six (n, H, W) temporaries
        self.index = np.empty((2, chunk, h, w), dtype=np.intp)  # two (n, H, W) flat indices

    def affine(
        self, images: np.ndarray, inverse: np.ndarray, displacement: np.ndarray | None, out: np.ndarray
    ) -> None:
        """Resample each image through its own inverse map into ``out``: :func:`warp`'s arithmetic.

        Shape: images (n, H, W), inverse (n, 2, 3), displacement (n, 2, H, W) or None, out (n, H, W).
        """
        n, h, w = images.shape
        y, x, y0, x0 = self.temps[:4, :n]  # four (n, H, W) buffers
        # Source coordinates q = A p' + b of every output pixel p' = (i, j), A and b from the inverse map.
        inv = inverse.astype(self.dtype)[:, :, :, None, None]  # (n, 2, 3, 1, 1) to broadcast over pixels
        i = np.arange(h, dtype=self.dtype)[:, None]  # (H, 1)
        j = np.arange(w, dtype=self.dtype)  # (W,)
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
        self._sample(images, out, lerp=True)

    def shared(self, images: np.ndarray, floors: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        """Resample every image at one grid into ``out``: :func:`warp_about`'s arithmetic.

        Shape: images (n, H, W), floors ``(y0, x0)`` (2, H, W), weights ``(a, b)`` (2, H, W), out (n, H, W).
        """
        n = len(images)
        a, b, y0, x0 = self.temps[:4, :n]  # four (n, H, W) buffers
        for buffer, value in ((a, weights[0]), (b, weights[1]), (y0, floors[0]), (x0, floors[1])):
            np.copyto(buffer, value)  # (H, W) -> (n, H, W), exact: floors are whole numbers
        self._sample(images, out, lerp=False)

    def _sample(self, images: np.ndarray, out: np.ndarray, *, lerp: bool) -> None:
        """Gather the four neighbours and weigh them, from ``a, b, y0, x0`` in the first four temporaries.

        ``lerp``: the two linear interpolations of :func:`warp`; otherwise the weights of
        :func:`warp_about` (see the module docstring). Shape: images (n, H, W), out (n, H, W).
        """
        n, h, w = images.shape
        hp, wp = h + 3, w + 3
        padded = self.padded[:n]
        padded[:, 1 : h + 1, 1 : w + 1] = images
        flat = padded.reshape(n * hp * wp)  # (n, H+3, W+3) -> (n (H+3) (W+3),), a view
        a, b, y0, x0, near, far = self.temps[:, :n]  # six (n, H, W) buffers
        corner, neighbour = self.index[:, :n]  # two (n, H, W) buffers

        # Flat index of (y0, x0) in the padded chunk; below 2^24, so exact in float32 for chunks this small.
        y0 *= wp
        y0 += x0
        y0 += (np.arange(n, dtype=self.dtype) * (hp * wp) + (wp + 1))[:, None, None]  # image offset + padding
        np.copyto(corner, y0, casting="unsafe")  # exact integers, float -> intp

        # Gathers: the indices are in range by construction; mode="clip" lets take() write into out
        # directly (with the default "raise" it goes through a buffer) and never changes an index here.
        top, bottom = y0, x0  # free again: reuse them
        flat.take(corner, out=top, mode="clip")  # in[y0, x0]
        flat.take(np.add(corner, 1, out=neighbour), out=far, mode="clip")  # in[y0, x0 + 1]
        corner += wp  # now the index of (y0 + 1, x0)
        flat.take(corner, out=bottom, mode="clip")  # in[y0 + 1, x0]
        flat.take(np.add(corner, 1, out=neighbour), out=near, mode="clip")  # in[y0 + 1, x0 + 1]

        if lerp:
            far -= top
            far *= b
            top += far  # in[y0, x0] + b (in[y0, x0 + 1] - in[y0, x0])
            near -= bottom
            near *= b
            bottom += near
            bottom -= top
            bottom *= a
            top += bottom  # top + a (bottom - top)
            np.clip(top, 0.0, 1.0, out=out)
        else:
            top = top * (1 - b) + far * b  # (1 - b) in[y0, x0] + b in[y0, x0 + 1]
            bottom = bottom * (1 - b) + near * b
            np.clip(top * (1 - a) + bottom * a, 0.0, 1.0, out=out)


def as_images(images) -> tuple[np.ndarray, tuple[int, int]]:
    """A float32 ``(N, H, W)`` view (or copy) of a batch, and ``(H, W)``.

    Shape: (N, D) with D = H * W a square number, (N, H, W) or (N, 1, H, W) -> (N, H, W).

    Raises
    ------
    ValueError
        If the images are not floating point, or not of one of those shapes.
    """
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
