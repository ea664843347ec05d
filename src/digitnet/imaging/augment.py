"""Random distortions of digit images, to train on more handwriting than MNIST holds.

A network that sees each training digit slightly moved, turned, resized, slanted and wobbled learns
that none of these change the digit, and generalises better (Simard, Steinkraus & Platt, 2003, "Best
practices for convolutional neural networks applied to visual document analysis"). :class:`Augment`
holds the size of each distortion; calling it distorts a batch, every image differently.

Shapes use the package's letters: N images, H rows, W columns, D = H * W pixels.

Each image gets a random affine map (rotation, shear, scale and shift about the image centre, written
out in :mod:`digitnet.imaging.affine`) and, optionally, a random elastic displacement field ``d`` added to
the source coordinate each output pixel reads from:

    q(p') = M^-1 (p' - c - t) + c + d(p')

**The elastic field** (Simard et al., section 2): for each image, two fields ``u_row, u_col`` of
independent ``U[-1, 1]`` values, one per pixel, smoothed by a Gaussian of standard deviation ``sigma``
and scaled by ``alpha``:

    d_k = alpha * G_H u_k G_W,      G[i, j] = g(i - j) / sum_{|k| < size} g(k),   g(x) = exp(-x^2 / 2 sigma^2)

Multiplying by the symmetric Gaussian matrix on each side (:func:`~digitnet.imaging.blur.gaussian_matrix`)
is exactly the separable 2-D convolution with the normalised kernel, zero outside the image. The kernel
sums to at most 1, so ``|d| <= alpha``.

**Writing styles** (``styles`` > 0, :mod:`digitnet.imaging.styles`): before the distortion, a share of
the 0s, 1s, 7s and 9s get a stroke MNIST's writers rarely made (a bar through the 0, a flag or a foot on
the 1, a bar across the 7, a curl on the 9's tail), and the affine map of each of those images starts by
fitting it back into MNIST's 20-pixel box, so it is still resampled once.

One bilinear resampling per image (:class:`~digitnet.imaging.warp.Resampler`), whatever the
distortions, so the digit is blurred once, not once per distortion. Everything is vectorised over the
batch; images are processed in cache-sized chunks of :data:`~digitnet.imaging.warp.CHUNK` images, which
gives the same result as one pass up to the float32 rounding of the elastic field's matrix products (the
random numbers are drawn in the same order) but keeps every temporary array in the CPU's cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from digitnet.imaging.affine import affine_matrices, invert_affine
from digitnet.imaging.blur import gaussian_matrix
from digitnet.imaging.styles import add_styles, refit_matrices
from digitnet.imaging.warp import CHUNK, Resampler, as_images

__all__ = ["AUGMENTATIONS", "Augment", "elastic_displacement"]


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
    styles : float, optional
        Probability that a digit whose class has writing styles MNIST lacks (a bar through 0, a flag or
        foot on 1, a crossed 7, a curled 9; :mod:`digitnet.imaging.styles`) gets one drawn
        on before the distortion, and is then fitted back into MNIST's 20-pixel box; 0 to 1. Needs the
        labels. Default 0: MNIST's own styles only.

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
    styles: float = 0.0

    def __post_init__(self):
        _check_range("shift", self.shift, 0.0, math.inf, "a number of pixels >= 0")
        _check_range("rotation", self.rotation, 0.0, 180.0, "degrees in [0, 180]")
        _check_range("scale", self.scale, 0.0, 1.0, "a relative change in [0, 1)", high_open=True)
        _check_range("shear", self.shear, 0.0, 45.0, "degrees in [0, 45]")
        _check_range("elastic_alpha", self.elastic_alpha, 0.0, math.inf, "a number of pixels >= 0")
        _check_range(
            "elastic_sigma", self.elastic_sigma, 0.0, math.inf, "a number of pixels > 0", low_open=True
        )
        _check_range("styles", self.styles, 0.0, 1.0, "a probability in [0, 1]")

    @property
    def takes_labels(self) -> bool:
        """Whether a call needs the batch's labels: only to draw writing styles onto the right digits."""
        return self.styles > 0

    def __call__(
        self, images: np.ndarray, rng: np.random.Generator, labels: np.ndarray | None = None
    ) -> np.ndarray:
        """Distort each image of a batch with its own random parameters.

        Parameters
        ----------
        images : numpy.ndarray
            Floating-point pixels in ``[0, 1]``, 0 background and 1 ink; not modified.
        rng : numpy.random.Generator
            The only source of randomness: the same generator state and batch give bit-identical
            output. The result depends on how a dataset is cut into batches, since each call draws
            all of its batch's parameters first, then its elastic fields.
        labels : numpy.ndarray, optional
            Each image's digit, needed when ``styles > 0`` (ValueError without them); ignored otherwise.

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
        x, size = as_images(images)  # (N, H, W) float32
        n = len(x)
        styled = None  # the indices of the images given a writing style
        if self.styles > 0:
            x, styled = self._draw_styles(
                x, labels, rng
            )  # a styled copy: the caller's images stay as they are
        matrices = affine_matrices(
            rotation=rng.uniform(-self.rotation, self.rotation, n),  # (N,) degrees
            shear=rng.uniform(-self.shear, self.shear, n),  # (N,) degrees
            scale=1.0 + rng.uniform(-self.scale, self.scale, n),  # (N,) factors
            shift=rng.uniform(-self.shift, self.shift, (n, 2)),  # (N, 2) pixels (row, column)
            size=size,
        )
        if styled is not None and len(styled):  # fit the styled digits back, then distort: one resampling
            matrices[styled] = _compose(matrices[styled], refit_matrices(x[styled]))
        inverse = invert_affine(matrices)  # (N, 2, 3) output pixel -> source pixel
        out = np.empty_like(x)  # (N, H, W)
        resampler = Resampler(min(n, CHUNK), size)
        field = _ElasticField(min(n, CHUNK), size) if self.elastic_alpha > 0 else None
        for start in range(0, n, CHUNK):
            chunk = slice(start, start + CHUNK)
            displacement = None
            if field is not None:
                count = len(out[chunk])  # CHUNK, or fewer in the last chunk
                # (count, 2, H, W), drawn chunk by chunk, as the random numbers have always been drawn
                displacement = field.draw(rng, count, self.elastic_alpha, self.elastic_sigma)
            resampler.affine(x[chunk], inverse[chunk], displacement, out[chunk])
        return out.reshape(np.shape(images))  # (N, H, W) -> the input's shape

    def _draw_styles(self, x, labels, rng) -> tuple[np.ndarray, np.ndarray]:
        """A copy of ``x`` with styles drawn onto a random ``styles`` share of the eligible digits, and the
        indices drawn on. Shape: (N, H, W), (N,) -> (N, H, W), (M,)."""
        if labels is None:
            raise ValueError("Augment(styles > 0) draws styles by digit: call it with the batch's labels")
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ValueError(f"labels must have shape ({len(x)},), one per image, not {labels.shape}")
        x = x.copy()
        return x, add_styles(x, labels, rng, self.styles)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The forward map ``outer(inner(p))`` of two stacks of ``[M | b]`` matrices. Shape: (N, 2, 3) twice."""
    out = np.empty_like(outer)
    out[:, :, :2] = outer[:, :, :2] @ inner[:, :, :2]  # (N, 2, 2)
    out[:, :, 2] = (outer[:, :, :2] @ inner[:, :, 2:])[:, :, 0] + outer[:, :, 2]  # (N, 2)
    return out


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
    return _ElasticField(n, size).draw(rng, n, alpha, sigma)


class _ElasticField:
    """Buffers for the elastic fields of one chunk of images, allocated once per call and reused.

    Shape: each buffer holds up to ``chunk`` fields of ``(2, H, W)``; :meth:`draw` uses the first ``n``.
    """

    def __init__(self, chunk: int, size: tuple[int, int]):
        h, w = self.size = size
        self.noise = np.empty((chunk, 2, h, w), dtype=np.float32)
        self.field = np.empty((chunk, 2, h, w), dtype=np.float32)

    def draw(self, rng: np.random.Generator, n: int, alpha: float, sigma: float) -> np.ndarray:
        """``alpha * G_H u G_W`` with ``u ~ U[-1, 1]``, in a buffer that the next call overwrites.

        Shape: (n, 2, H, W).
        """
        h, w = self.size
        u = rng.random(dtype=np.float32, out=self.noise[:n])  # (n, 2, H, W) in [0, 1)
        u *= 2
        u -= 1  # in [-1, 1)
        rows = self.field[:n].reshape(n * 2 * h, w)  # (n, 2, H, W) -> (2nH, W), a view
        np.matmul(u.reshape(n * 2 * h, w), gaussian_matrix(w, sigma), out=rows)  # u G_W
        smooth = u.reshape(n * 2, h, w)  # (n, 2, H, W) -> (2n, H, W), the noise buffer reused
        np.matmul(np.float32(alpha) * gaussian_matrix(h, sigma), rows.reshape(n * 2, h, w), out=smooth)
        return smooth.reshape(n, 2, h, w)  # (2n, H, W) -> (n, 2, H, W)


def _check_range(
    name: str, value: object, low: float, high: float, meaning: str, *, low_open=False, high_open=False
) -> None:
    """Raise ValueError unless ``value`` is a finite real number (not a bool) in the range."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"Augment.{name} must be {meaning}, not {value!r}")


STYLE_RATE = 0.3
"""Share of eligible digits given a style by the ``styles`` augmentation: about the share of slashed
zeros among drawn ones (a fifth) with room for the rarer 1s and 7s, while most digits keep MNIST's look."""

AUGMENTATIONS: dict[str, Augment] = {
    "affine": Augment(elastic_alpha=0.0),
    "elastic": Augment(),
    "styles": Augment(elastic_alpha=0.0, styles=STYLE_RATE),
}
"""Named augmentations, as ``TrainConfig.augment`` and ``digitnet train --augment`` spell them: shift,
rotation, scale and shear; those plus Simard's elastic distortion; or the affine ones plus the writing
styles MNIST lacks, drawn onto a ``STYLE_RATE`` share of the 0s, 1s, 7s and 9s."""
