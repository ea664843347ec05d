"""Affine maps of images: rotation, shear, scale and shift about the image centre, and their inverses.

Coordinates are array indices ``(row, column)``: row 0 is the top, pixel ``(i, j)`` has its centre at
``(i, j)``, and the image's centre is ``c = ((H - 1) / 2, (W - 1) / 2)``, (13.5, 13.5) for MNIST.

**The forward map.** An affine distortion moves a source point ``p`` to

    p' = M (p - c) + c + t,      M = R(theta) @ Sh(phi) @ (s I)

    R(theta) = [[cos theta, -sin theta],     turns the digit anticlockwise on screen by theta
                [sin theta,  cos theta]]     (rows grow downwards)
    Sh(phi)  = [[1,         0],              column offset -tan(phi) * (row - c_row): a positive
                [-tan phi,  1]]              phi slants the top to the right, like italics
    s                                        enlarges the digit by the factor s

and ``t = (t_row, t_col)`` moves it down and to the right. :func:`affine_matrices` writes this as one
``(2, 3)`` matrix ``[M | c + t - M c]`` per image.

**The inverse map** reads, for every output pixel ``p'``, the source at ``M^-1 (p' - c - t) + c``:
:func:`invert_affine` gives it as the ``(2, 3)`` matrix ``[M^-1 | -M^-1 b]`` of ``p' = M p + b``.
:mod:`digitnet.imaging.warp` resamples images through these maps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_matrices", "invert_affine"]


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


def invert_affine(matrices: np.ndarray) -> np.ndarray:
    """The inverse maps: ``p = M^-1 p' - M^-1 b`` for ``p' = M p + b``, each ``[M | b]`` a ``(2, 3)`` matrix.

    ``M^-1 = [[m11, -m01], [-m10, m00]] / det M``, in float64.

    Raises
    ------
    ValueError
        If a matrix is not invertible: its determinant is not finite or below 1e-12 in size.

    Shape
    -----
    (N, 2, 3) -> (N, 2, 3).
    """
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
