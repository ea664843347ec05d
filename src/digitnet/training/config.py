"""Training configuration as data: one dataclass, built by the CLI, saved in every model file.

A model file records the exact ``TrainConfig`` that produced it, so ``digitnet train --config``
of that record reproduces the run bit for bit (same seed, same data, same machine).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from digitnet.checks import is_integer
from digitnet.nn.inspect import architecture_text
from digitnet.training.network import network_layers
from digitnet.training.settings import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LAYER_SIZE, SETTINGS

__all__ = ["MAX_BATCH_SIZE", "MAX_EPOCHS", "TrainConfig", "physical_memory", "training_bytes"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a network is built and trained. Defaults: a fast, strong MLP."""

    hidden: tuple[int, ...] = (100,)  # hidden layer sizes; MNIST fixes 784 inputs and 10 outputs
    conv: tuple[tuple[int, ...], ...] = ()  # convolutional stages before the dense layers: each stage's
    #   filter counts, one "same"-padded convolution each, then 2x2 max-pooling; () for an MLP
    kernel_size: int = 5  # of every convolution; 5x5 as in LeNet-5
    batch_norm: bool = False  # batch normalisation after every convolution and hidden dense layer
    augment: str | None = None  # random distortions of every training batch: "affine" or "elastic"
    activation: str = "relu"  # ReLU's derivative does not vanish, so it trains fastest
    cost: str = "cross-entropy"  # softmax + log-likelihood: large gradients while wrong
    optimizer: str = "adam"  # per-parameter step sizes: robust without tuning
    lr: float = 1e-3  # Adam's customary step size
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only, needs momentum > 0
    schedule: str = "cosine"  # large steps early, fine steps at the end
    batch_size: int = 64  # small enough for many updates per epoch, large enough for the BLAS
    epochs: int = 40  # about half a minute on two cores for 784-100-10
    l2: float = 3e-4  # λ in (λ/2)Σ‖W‖² on the batch-averaged cost; chosen on validation for 784-100-10
    clip_norm: float | None = None  # each batch's gradient rescaled to at most this L2 norm; None: never
    dropout: float = 0.0  # drop rate after each hidden layer
    input_dropout: float = 0.0  # drop rate on the 784 input pixels
    init: str | None = None  # None: He for ReLU, LeCun for sigmoid, Glorot for tanh
    seed: int = 0  # initial weights, shuffling and dropout masks all follow from it
    validation_size: int = 10_000  # held out from the end of the training set, as in Nielsen's book
    train_size: int | None = None  # use only the first N training images (None: all the rest)
    patience: int | None = None  # early stopping on validation loss; None trains every epoch
    oversample: bool = False  # redraw rare classes' images until every class is as frequent as the largest
    class_weighted: bool = False  # weight each class's cost by N / (C · n_c), so rare classes count as much
    pen_digits: int = 0  # copies of 20 writers' pen-drawn digits (UCI pen digits, writers 1-20, 4,996)
    #   added to the training images, each copy drawn with another pen width; 0: MNIST only
    workers: int = 1  # split every batch between this many processes, a core each (digitnet.nn.parallel):
    #   1.4-1.8x for convolutional networks on 2 cores; the weights depend on it
    # None: sigmoid for quadratic, logits for cross-entropy
    output_activation: str | None = None

    def __post_init__(self) -> None:
        for name in ("hidden", "conv"):  # their text form, as every front end writes them: "16x16", "6/16"
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, SETTINGS[name].parse(getattr(self, name)))
        hidden = (self.hidden,) if is_integer(self.hidden) else self.hidden  # 100 means one layer of 100
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise ValueError(f"hidden must be hidden layer sizes such as (100,) or 100, got {hidden!r}")
        if not all(is_integer(h) for h in hidden):
            raise ValueError(f"hidden layer sizes must be whole numbers, got {list(hidden)}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        object.__setattr__(self, "conv", tuple(tuple(int(f) for f in stage) for stage in self.conv))
        for row in SETTINGS.values():  # NumPy's integers become Python's, which model files store as JSON
            if row.kind == "int" and is_integer(getattr(self, row.name)):
                object.__setattr__(self, row.name, int(getattr(self, row.name)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad value and the allowed ones."""

        for row in SETTINGS.values():  # each setting alone: its choices and its range, from its row
            value = getattr(self, row.name)
            if row.kind == "choice" and not (value is None and row.none_means) and value not in row.choices:
                raise ValueError(
                    f"unknown {row.name} {value!r}; choose one of {', '.join(sorted(row.choices))}"
                )
            row.check(value)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {list(self.hidden)}")
        sizes = [*self.hidden, *(f for stage in self.conv for f in stage)]
        if any(size > MAX_LAYER_SIZE for size in sizes):
            shown = max(sizes)
            shown = f"{shown:,}" if shown < 10**30 else f"a number of {len(str(shown))} digits"
            raise ValueError(
                f"layer sizes (hidden units, filters) must be at most {MAX_LAYER_SIZE:,}, as a model file "
                f"records them, got {shown}"
            )
        if len(self.conv) > 4 or any(not stage or min(stage) < 1 for stage in self.conv):
            raise ValueError(
                "conv must be at most 4 stages (each pools 2x2: 28 -> 14 -> 7 -> 3 -> 1), each a non-empty "
                f"list of positive filter counts, got {[list(stage) for stage in self.conv]}"
            )
        if not (is_integer(self.kernel_size, 1) and self.kernel_size % 2):
            raise ValueError(
                f"kernel_size must be an odd positive integer (3, 5, ...), got {self.kernel_size!r}"
            )
        if self.conv:
            side = 28 // 2 ** (len(self.conv) - 1)  # the last stage's input: 28, 14, 7 or 3 pixels
            if self.kernel_size > side:
                largest = side if side % 2 else side - 1
                raise ValueError(
                    f"kernel_size {self.kernel_size} is larger than the {side}x{side} input of the last "
                    f"convolutional stage (stage {len(self.conv)}): it would multiply padding, at "
                    f"{self.kernel_size**2:,} products per pixel; use a kernel of at most {largest}"
                )
        if self.nesterov and (self.momentum == 0 or self.optimizer != "sgd"):
            raise ValueError("Nesterov momentum needs --optimizer sgd and --momentum > 0")
        if self.patience is not None and self.validation_size == 0:
            raise ValueError("early stopping (patience) needs a validation split (validation_size > 0)")

        needed, memory = training_bytes(self), physical_memory()
        if memory is not None and needed > memory:
            raise ValueError(
                f"this network cannot train in this machine's memory: {self.architecture} has "
                f"{self.parameter_count:,} parameters and needs at least {needed / 1e9:,.1f} GB with "
                f"batch_size {self.batch_size}, the machine has {memory / 1e9:,.1f} GB; make its layers "
                "smaller (hidden, conv) or the batch smaller"
            )

    @property
    def parameter_count(self) -> int:
        """Weights and biases (and batch normalisation's scale and shift) of the network this builds."""
        return _layer_sizes(self)[0]

    @property
    def architecture(self) -> str:
        """E.g. ``784-16-16-10``, or ``28x28-c6-pool-c16-pool-120-84-10`` with convolutions: the network's
        own line (:func:`~digitnet.nn.model.architecture_text`), from its layers, none of them built."""
        layers = network_layers(hidden=self.hidden, activation=self.activation, conv=self.conv)
        return architecture_text(
            {
                "input_shape": [1, 28, 28] if self.conv else [784],
                "layers": [{"type": type(layer).__name__, **layer.config()} for layer in layers],
            }
        )

    def key_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the settings added since 0.1 that have their defaults: what a run's key
        is computed from, so that a new setting does not rename the runs saved before it existed."""
        defaults = TrainConfig.__dataclass_fields__
        return {
            name: value
            for name, value in self.to_dict().items()
            if SETTINGS[name].since is None or value != defaults[name].default
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["conv"] = [list(stage) for stage in self.conv]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known ones are {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _layer_sizes(config: TrainConfig) -> tuple[int, int]:
    """(parameters, the largest number of values one example makes in any layer): a convolution's
    output, or the patches it unfolds its input into (im2col), or a dense layer's output."""
    k, norm = config.kernel_size, 2 if config.batch_norm else 0
    params, largest, channels, side = 0, 784, 1, 28
    for stage in config.conv:
        for filters in stage:  # each "same"-padded: k*k*channels weights per filter, one bias
            params += (k * k * channels + 1 + norm) * filters
            largest = max(largest, filters * side * side, k * k * channels * side * side)
            channels = filters
        side //= 2  # 2x2 max-pooling
    inputs = channels * side * side
    for units in (*config.hidden, 10):
        params += (inputs + 1 + (norm if units != 10 else 0)) * units
        largest, inputs = max(largest, units), units
    return params, largest


def training_bytes(config: TrainConfig) -> int:
    """A lower bound of the memory that training ``config`` takes, in bytes: float32 weights and their
    gradients (8 bytes a parameter; Adam adds 8 more), and the largest layer's values for a batch."""
    params, largest = _layer_sizes(config)
    return 8 * params + 4 * config.batch_size * largest


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the operating system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None
