"""The report's figures, one function per figure, each returning a matplotlib figure to save.

Shapes use the package's letters: N digits, C = 10 classes, U first-layer units, S neurons shown,
K digits per neuron, B confidence bins.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm

from digitnet.nn.pooling import AvgPool2D, MaxPool2D
from digitnet.plots import DIVERGING, new_figure, plt
from digitnet.report.neurons import NeuronReport

__all__ = [
    "confusion_figure",
    "importance_figure",
    "misclassified_figure",
    "conv_filters_figure",
    "neuron_digits_figure",
    "network_figure",
    "neuron_weights_figure",
    "probability_figure",
    "reliability_figure",
    "training_curves_figure",
]

TRAIN_COLOUR, VAL_COLOUR, WRONG_COLOUR, RIGHT_COLOUR = "tab:blue", "tab:orange", "tab:red", "tab:green"


def training_curves_figure(epochs: list[dict], cost: str):
    """Loss and accuracy per epoch, training (running averages during the epoch) and validation."""
    fig, (ax_loss, ax_acc) = new_figure(10, 3.8, ncols=2)
    x = [e["epoch"] for e in epochs]
    has_val = all(e.get("val_loss") is not None for e in epochs)
    style = {"marker": "o", "markersize": 3}
    ax_loss.plot(x, [e["loss"] for e in epochs], color=TRAIN_COLOUR, label="training", **style)
    ax_acc.plot(x, [100 * e["accuracy"] for e in epochs], color=TRAIN_COLOUR, label="training", **style)
    if has_val:
        ax_loss.plot(x, [e["val_loss"] for e in epochs], color=VAL_COLOUR, label="validation", **style)
        ax_acc.plot(
            x, [100 * e["val_accuracy"] for e in epochs], color=VAL_COLOUR, label="validation", **style
        )
    note = "" if has_val else " (trained without validation: training only)"
    ax_loss.set(title=f"Cost per epoch{note}", xlabel="epoch", ylabel=f"mean {cost} cost per digit")
    ax_acc.set(title="Accuracy per epoch", xlabel="epoch", ylabel="digits classified right (%)")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return fig


def neuron_weights_figure(report: NeuronReport, columns: int = 8):
    """Incoming weights of the shown neurons as 28x28 images, blue negative, white 0, red positive."""
    shown = report.shown
    rows = -(-len(shown) // columns)
    columns = min(columns, len(shown))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.25, rows * 1.6 + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, j in zip(axes.flat, shown):
        w = report.weights[:, j].reshape(28, 28)  # (784,) -> (28, 28)
        limit = float(np.abs(w).max()) or 1.0
        ax.imshow(w, cmap=DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(f"#{j}\nimp {report.importance[j]:.2g}", fontsize=8)
    which = (
        f"all {report.units}"
        if len(shown) == report.units
        else f"the {len(shown)} most important of {report.units}"
    )
    fig.suptitle(
        f"Incoming weights of {which} first-layer neurons, most important first\n"
        "(red: positive, blue: negative, each image scaled to its own largest |w|)",
        fontsize=10,
    )
    return fig


def conv_filters_figure(kernels: np.ndarray, model, digit: np.ndarray, columns: int = 8):
    """A convolutional network's first layer: each filter's K x K kernel (first input channel), and below
    it the feature map it makes of one test digit (after the layer's activation).

    Shape: kernels (F, C, K, K); digit (784,).
    """
    layers = model.layers
    last = next(i for i, layer in enumerate(layers) if layer.has_weights)  # the convolution
    for layer in layers[last + 1 :]:  # then normalisation and activation, up to a weighted or pooling layer
        if layer.has_weights or isinstance(layer, (MaxPool2D, AvgPool2D)):
            break
        last += 1
    maps = model.layer_outputs(digit, upto=last + 1)[-1][0]  # (1, 1, 28, 28) in, (F, OH, OW) out
    count = len(kernels)
    columns = min(columns, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(2 * rows, columns, figsize=(columns * 1.2, rows * 2.5 + 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for f in range(count):
        r, c = divmod(f, columns)
        w = kernels[f, 0]  # (K, K)
        limit = float(np.abs(w).max()) or 1.0
        axes[2 * r, c].imshow(w, cmap=DIVERGING, vmin=-limit, vmax=limit)
        axes[2 * r, c].set_title(f"filter {f}", fontsize=8)
        axes[2 * r + 1, c].imshow(maps[f], cmap="gray_r")
    fig.suptitle(
        f"The {count} filters of the first convolution (red: positive, blue: negative) and, under "
        "each,\nwhat it makes of one test digit (dark: strong response)",
        fontsize=10,
    )
    return fig


def importance_figure(report: NeuronReport):
    """Every first-layer neuron's importance, sorted, the shown ones highlighted."""
    order = np.argsort(-report.importance, kind="stable")  # (U,)
    shown = np.isin(order, report.shown)
    fig, ax = new_figure(8, 3)
    colours = np.where(shown, TRAIN_COLOUR, "lightgray")
    ax.bar(np.arange(1, report.units + 1), report.importance[order], color=colours, width=1.0)
    ax.set(
        title=f"Importance of the {report.units} first-layer neurons, sorted (shown: blue)",
        xlabel="neuron rank (most important first)",
        ylabel="‖outgoing w‖ × mean |activation|",
    )
    return fig


def _rgb(image: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """A 2-D array as RGB through a colour map: (28, 28) -> (28, 28, 3)."""
    norm = np.clip((image - vmin) / (vmax - vmin), 0, 1)
    return matplotlib.colormaps[cmap](norm)[..., :3]


def neuron_digits_figure(report: NeuronReport, test_images: np.ndarray, per_row: int = 2):
    """For each shown neuron: its weight image, then the K test digits that excite it most.

    One axis per neuron holds a strip [weights | gap | digit 1 ... digit K] drawn as a single RGB image,
    which keeps a 32-neuron figure fast to draw.
    """
    s, k = report.top_indices.shape
    gap = np.ones((28, 6, 3))  # (28, 6, 3) white spacer
    rows = -(-s // per_row)
    cols = min(per_row, s)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * (k + 1.4) * 0.62, rows * 0.95 + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row, j in zip(axes.flat, range(s), report.shown):
        w = report.weights[:, j].reshape(28, 28)  # (784,) -> (28, 28)
        limit = float(np.abs(w).max()) or 1.0
        tiles = [_rgb(w, DIVERGING, -limit, limit), gap]
        for i in report.top_indices[row]:
            tiles += [_rgb(test_images[i], "gray_r", 0.0, 1.0), np.ones((28, 2, 3))]
        ax.imshow(np.concatenate(tiles, axis=1), interpolation="nearest")  # (28, W, 3)
        ax.set_title(
            f"neuron #{j}: weights, then its top {k} test digits (activation "
            f"{report.top_activations[row, 0]:.2g} down to {report.top_activations[row, -1]:.2g})",
            fontsize=8,
            loc="left",
        )
    fig.suptitle(
        "What excites each neuron most: its weights, then the test digits with the largest activation",
        fontsize=10,
    )
    return fig


def confusion_figure(matrix: np.ndarray):
    """The confusion matrix as an annotated heat map; colour on a log scale so small counts show."""
    m = np.asarray(matrix)
    c = len(m)
    fig, ax = new_figure(6.4, 5.6)
    shown = np.ma.masked_equal(m, 0)  # zero cells stay white
    image = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(int(m.max()), 2)))
    for t in range(c):
        for p in range(c):
            if m[t, p]:
                dark = m[t, p] > np.sqrt(max(m.max(), 1)) * 4
                ax.text(
                    p,
                    t,
                    str(m[t, p]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.grid(False)
    ax.set(title="Confusion matrix on the 10,000 test digits", xlabel="predicted digit", ylabel="true digit")
    fig.colorbar(image, ax=ax, label="test digits (log scale)", shrink=0.85)
    return fig


def _top3(p: np.ndarray) -> str:
    order = np.argsort(-p)[:3]
    return "\n".join(f"{c}: {100 * p[c]:.0f}%" for c in order)


def misclassified_figure(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, columns: int = 10
):
    """Misclassified digits, each titled with its true label and the model's three top probabilities."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.05, rows * 1.75 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, p in zip(axes.flat, images, labels, probabilities):
        ax.imshow(image.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {label}\n{_top3(p)}", fontsize=7.5, linespacing=1.1)
    fig.suptitle("Misclassified test digits: true label, then the network's top-3 probabilities", fontsize=10)
    return fig


def probability_figure(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, columns: int = 3):
    """Each digit beside a bar chart of its 10 probabilities: the top class coloured green if right,
    red if wrong; the true class outlined in black."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(
        rows,
        2 * columns,
        figsize=(columns * 3.6, rows * 2.1),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 2] * columns},
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, label, p) in enumerate(zip(images, labels, probabilities)):
        r, c = divmod(i, columns)
        ax_img, ax_bar = axes[r, 2 * c], axes[r, 2 * c + 1]
        ax_bar.axis("on")
        ax_img.imshow(image.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax_img.axis("off")
        top = int(np.argmax(p))
        colours = ["lightgray"] * len(p)
        colours[top] = RIGHT_COLOUR if top == label else WRONG_COLOUR
        edges = ["black" if k == label else "none" for k in range(len(p))]
        ax_bar.bar(range(len(p)), 100 * p, color=colours, edgecolor=edges, linewidth=1.2)
        ax_bar.set_xticks(range(len(p)))
        ax_bar.tick_params(labelsize=7)
        true_tick = ax_bar.get_xticklabels()[label]
        true_tick.set_fontweight("bold")
        true_tick.set_fontsize(9)
        ax_bar.set_ylim(0, 105)
        ax_bar.set_ylabel("probability (%)", fontsize=7)
        ax_bar.set_title(
            f"{100 * p[top]:.0f}% it's a {top} (true {label})",
            fontsize=8.5,
            color="black" if top == label else WRONG_COLOUR,
        )
    fig.suptitle(
        "The network's probabilities for a few test digits (true class outlined, its label in bold)",
        fontsize=10,
    )
    return fig


def reliability_figure(panels: list[tuple[str, list[dict], float]]):
    """Reliability diagrams: accuracy per confidence bin against the diagonal of perfect calibration.

    ``panels`` holds (title, bins from ``reliability_bins``, ECE) per diagram; a row of counts per bin
    (log scale) sits under each, since most digits land in the top bin.
    """
    fig, axes = new_figure(
        5 * len(panels),
        5.2,
        nrows=2,
        ncols=len(panels),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        sharex=True,
    )
    for col, (title, bins, ece) in enumerate(panels):
        ax, ax_n = axes[0, col], axes[1, col]
        width = bins[0]["upper"] - bins[0]["lower"]
        centres = np.array([(b["lower"] + b["upper"]) / 2 for b in bins])
        filled = np.array([b["count"] > 0 for b in bins])
        acc = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
        conf = np.array([b["confidence"] if b["count"] else 0.0 for b in bins])
        ax.bar(
            centres[filled],
            100 * acc[filled],
            width=width,
            color=TRAIN_COLOUR,
            edgecolor="white",
            label="accuracy in bin",
        )
        lower = centres[filled] - width / 2
        ax.hlines(
            100 * conf[filled],
            lower,
            lower + width,
            color=WRONG_COLOUR,
            linewidth=2.5,
            label="mean confidence in bin",
        )
        ax.plot([0, 1], [0, 100], "k--", linewidth=1, label="perfect calibration")
        ax.set(title=f"{title}: ECE = {100 * ece:.2f}%", ylabel="accuracy (%)", xlim=(0, 1), ylim=(0, 100))
        ax.legend(loc="upper left", fontsize=8)
        counts = np.array([b["count"] for b in bins])
        ax_n.bar(centres[filled], counts[filled], width=width, color="gray", edgecolor="white")
        ax_n.set_yscale("log")
        ax_n.set(xlabel="confidence (top probability)", ylabel="test digits")
    return fig


def network_figure(digit: np.ndarray, network: list[dict], connections: list, activations: list[dict], proba):
    """One test digit going through the network, drawn as the drawing page draws it (the same choice of
    neurons and links, :func:`digitnet.nn.inspect.drawn_network`): the digit on the left, then a column
    per dense layer with its shown neurons shaded by activation, and each shown neuron's strongest
    positive incoming links (pixels for the first hidden layer), wider for larger contributions a·w.

    Shape: digit (784,); proba (C,), the output column's probabilities.
    """
    gap = 1.2  # between columns; the digit is 1 wide
    right = 0.3 + gap * (len(network) - 1) + 0.9  # where the last column's labels end
    fig, ax = new_figure(2.8 * (right + 0.05), 2.8 * 1.12)
    ax.axis("off")
    ax.imshow(digit.reshape(28, 28), cmap="gray_r", extent=(0, 1, 0, 1), vmin=0, vmax=1)
    hidden_values = [a["values"] for a in activations if a.get("column")][: len(network) - 2]
    positions = {}  # (column, neuron) -> (x, y)
    for k, column in enumerate(network[1:], start=1):
        x, shown = 0.3 + k * gap, column["shown"]
        ys = np.linspace(0.97, 0.03, len(shown)) if len(shown) > 1 else np.array([0.5])
        last = k == len(network) - 1
        values = proba if last else (hidden_values[k - 1] if k - 1 < len(hidden_values) else None)
        shade = np.zeros(len(shown)) if values is None else np.asarray(values, np.float64)[shown]
        shade = shade / (shade.max() if shade.size and shade.max() > 0 else 1.0)
        dots = {"s": 110, "cmap": "Blues", "vmin": 0, "vmax": 1, "edgecolors": "0.3", "linewidths": 0.6}
        ax.scatter(np.full(len(shown), x), ys, c=shade, zorder=3, **dots)
        for neuron, y in zip(shown, ys):
            positions[(k, int(neuron))] = (x, y)
            if last:
                ax.text(x + 0.12, y, f"{neuron}: {proba[neuron]:.1%}", va="center", fontsize=8)
        title = "outputs" if last else f"layer {k}: {len(shown)} of {column['size']}"
        ax.text(x, 1.05, title, ha="center", fontsize=8)
    if not any(link.source_column == 0 for link in connections):  # a convolutional network
        note = "convolutions\nand pooling\n(not drawn)"
        ax.text(0.65 + gap / 2, 0.5, note, ha="center", va="center", fontsize=8, color="0.4")
    strongest = max((link.contribution for link in connections), default=1.0)
    for link in connections:
        if link.source_column == 0:  # a pixel: its place on the image
            row, col = divmod(link.source, 28)
            start = ((col + 0.5) / 28, 1 - (row + 0.5) / 28)
        else:
            start = positions[(link.source_column, link.source)]
        end = positions[(link.target_column, link.target)]
        share = link.contribution / strongest
        ax.plot(
            *zip(start, end), color="tab:orange", lw=0.3 + 2.2 * share, alpha=0.25 + 0.6 * share, zorder=2
        )
    ax.set_xlim(-0.05, right)
    ax.set_ylim(-0.02, 1.1)
    ax.set_aspect("equal")
    return fig


def risk_coverage_figure(curves: list[tuple[str, dict]]):
    """Risk (wrong answers among those given) against coverage (share answered), one line per data set,
    with the model's "not sure" threshold marked where it has one (``selective_record`` dicts)."""
    fig, ax = new_figure(6.5, 4.2)
    colours = [TRAIN_COLOUR, WRONG_COLOUR, "tab:green"]
    for (label, record), colour in zip(curves, colours, strict=False):
        curve = record["curve"]
        ax.plot(100 * np.array(curve["coverage"]), 100 * np.array(curve["risk"]), color=colour, label=label)
        if "threshold" in record:
            ax.plot(100 * record["coverage"], 100 * record["risk"], "o", color=colour, markersize=7)
            ax.annotate(
                f"not sure below {100 * record['threshold']:.0f}%: {100 * record['errors_caught']:.0f}% "
                f"of errors caught",
                (100 * record["coverage"], 100 * record["risk"]),
                textcoords="offset points",
                xytext=(-10, 12),
                ha="right",
                fontsize=8,
                color=colour,
            )
    given = [record["coverage"] for _, record in curves if "coverage" in record]
    left = min(80, 10 * int(10 * min(given)) - 10) if given else 0  # where the thresholds answer
    left = max(left, 0)
    visible = [  # the risks in view: the first few answers' risk, left of it, may be far larger
        r
        for _, record in curves
        for c, r in zip(record["curve"]["coverage"], record["curve"]["risk"], strict=True)
        if 100 * c >= left
    ]
    top = 115 * max(visible, default=0.0) or 1.0
    ax.set(xlabel="answers given (% of digits)", ylabel="wrong among the answers (%)", xlim=(left, 100))
    ax.set_ylim(0, top)
    ax.legend(loc="upper left", fontsize=8)
    return fig
