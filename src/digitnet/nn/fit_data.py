"""What ``fit`` checks before it trains: the examples, the labels, the weights and the validation data.

Each check names what is wrong in the caller's terms ("60000 training images but 59999 labels"), so a
mistake is refused before the first batch instead of failing somewhere inside it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FitData", "checked_fit_data"]


class FitData:
    """The training data as the loop uses it: x (N, *input_shape) in the model's dtype, y (N,) class ids,
    sample weights (N,) float64 or None, and (x_val, y_val) or None."""

    def __init__(self, x, y, sample_weights, validation):
        self.x, self.y, self.sample_weights, self.validation = x, y, sample_weights, validation


def checked_fit_data(model, x, y, *, settings, validation=None, sample_weights=None) -> FitData:
    """The arguments of ``fit``, checked against ``model`` and ``settings``; ValueError naming the first
    thing wrong. An empty validation set counts as none."""
    x = model.as_input(x)
    y = checked_labels(y, model.n_classes, "training")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} training images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("no training examples")
    if validation is not None:
        vx = model.as_input(validation[0])
        vy = checked_labels(validation[1], model.n_classes, "validation")
        if len(vx) != len(vy):
            raise ValueError(f"{len(vx)} validation images but {len(vy)} labels")
        validation = (vx, vy) if len(vx) else None
    if settings.patience is not None and validation is None:
        raise ValueError("early stopping (patience) needs validation data")
    weights = settings.class_weights
    if weights is not None and weights.shape != (model.n_classes,):
        raise ValueError(
            f"class_weights must be {model.n_classes} numbers, one per class, got {len(weights)}"
        )
    if sample_weights is not None:
        sample_weights = np.asarray(sample_weights, dtype=np.float64)
        if (
            sample_weights.shape != (len(x),)
            or not (np.isfinite(sample_weights) & (sample_weights >= 0)).all()
        ):
            raise ValueError(
                f"sample_weights must be {len(x)} finite numbers >= 0, one per example, got shape "
                f"{sample_weights.shape}"
            )
    return FitData(x, y, sample_weights, validation)


def checked_labels(y, n_classes: int, what: str) -> np.ndarray:
    """``y`` as (N,) intp class ids in 0..n_classes-1; ``what`` ("training") names them in messages."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} labels must be a 1-D array of integer class ids, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what} labels must lie in 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    return y.astype(np.intp)
