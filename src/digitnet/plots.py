"""Figures with matplotlib on its headless Agg backend: shared look and small drawing helpers.

Every figure gets a title, labelled axes with units, and is saved as a PNG at a size that reads well on
a laptop screen and in the README.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["DIVERGING", "digit_grid", "new_figure", "plt", "save_figure"]

DIVERGING = "RdBu_r"
"""Colour map for signed weights: blue negative, white zero, red positive."""

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.frameon": False,
    }
)


def new_figure(width: float = 6.4, height: float = 4.0, **subplots):
    """``plt.subplots`` with a size in inches; returns (figure, axes)."""
    return plt.subplots(figsize=(width, height), **subplots)


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` (tight layout) and free its memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def digit_grid(
    images: np.ndarray,
    titles: list[str] | None = None,
    columns: int = 10,
    *,
    cmap: str = "gray_r",
    symmetric: bool = False,
    size: float = 1.1,
    suptitle: str | None = None,
):
    """A grid of 28x28 images, each with an optional title; returns the figure.

    ``symmetric`` centres the colour scale on zero (for weights, with a diverging map).
    Shape: images (K, 28, 28) or (K, 784).
    """
    images = np.asarray(images).reshape(len(images), 28, 28)
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(columns * size, rows * size * (1.25 if titles else 1.0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        if symmetric:
            limit = float(np.abs(images[i]).max()) or 1.0
            ax.imshow(images[i], cmap=cmap, vmin=-limit, vmax=limit)
        else:
            ax.imshow(images[i], cmap=cmap, vmin=0, vmax=1)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
