"""The training loop: mini-batch gradient descent over epochs, with validation and early stopping.

One loop serves every caller (``Sequential.fit``, ``digitnet train``, the experiments), so what is
measured is always what users run. One batch, in reading order: :meth:`_Loop.epoch` takes the batch's
images, ``model.train_step`` runs forward, the cost and backward (:mod:`digitnet.nn.model`), the loop
adds L2's gradient λW and calls ``optimizer.step`` (:mod:`digitnet.nn.optimizers`).

With ``workers > 1`` each batch is split between processes (:mod:`digitnet.nn.parallel`, imported only
then): the loop is the same, ``train_step`` runs on each process's share. The loop knows the model
only by what it uses of it (``as_input``, ``n_classes``, ``train_step``, ``parameters``, ``evaluate``,
and ``layers`` and ``layer_outputs`` to say where a NaN came from), so this module imports nothing of
:mod:`digitnet.nn.model`, which imports it for ``Sequential.fit``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from digitnet.checks import checked_integer
from digitnet.errors import NonFiniteError
from digitnet.nn.callbacks import Callback, History
from digitnet.nn.early_stopping import EarlyStopping
from digitnet.nn.fit_data import checked_fit_data

__all__ = ["MAX_WORKERS", "FitSettings", "balanced_order", "fit"]

MAX_WORKERS = 64
"""The most processes one batch is split between: more than any machine here has cores."""


@dataclass(frozen=True, eq=False)
class FitSettings:
    """How :func:`fit` trains: every setting in one object, checked when it is made.

    Parameters
    ----------
    epochs : int
        Passes over the training set.
    batch_size : int
        Examples per gradient step.
    schedule : callable or None
        Maps the epoch position (a float: 0 at the start, 1.5 half-way through the second epoch) to a
        multiplier of the optimiser's learning rate, e.g. :class:`digitnet.nn.schedules.Cosine`.
    l2 : float
        λ in the penalty (λ/2) Σ‖W‖² added to the cost (weights only, not biases).
    clip_norm : float or None
        c: when the batch's gradient g (every parameter's, L2's term included) is longer than c, it is
        rescaled to g·c/‖g‖ before the step (Pascanu et al. 2013), so one bad batch cannot throw the
        weights far; its direction is kept. None: never.
    patience : int or None
        Stop after this many epochs without a lower validation loss, and restore the best weights.
    class_weights : ndarray (C,) or None
        Weight of each class in the cost (see ``costs.balanced_class_weights``), for imbalanced data.
    oversample : bool
        Each epoch, draw rare classes' examples again until every class is as frequent as the largest;
        an epoch then has C · max_c n_c examples.
    augment : callable or None
        ``augment(images, rng) -> images``, e.g. :class:`digitnet.imaging.Augment`: applied to every
        training batch (never to validation data) with a generator split off from the training one;
        one whose ``takes_labels`` is true is called ``augment(images, rng, labels=labels)``.
    workers : int
        Split every batch between this process and ``workers - 1`` worker processes, one core each,
        that share the weights (:mod:`digitnet.nn.parallel`): convolutional networks train 1.4 to 1.8
        times as fast with 2 on 2 cores; MLPs train slower. Reproducible for a given seed and
        ``workers``, but not bit-identical across different ``workers``; batch normalisation then
        normalises each shard by its own statistics.
    """

    epochs: int = 10
    batch_size: int = 32
    schedule: Callable[[float], float] | None = None
    l2: float = 0.0
    clip_norm: float | None = None
    patience: int | None = None
    class_weights: np.ndarray | None = None
    oversample: bool = False
    augment: Callable | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        def store(name, value):
            object.__setattr__(self, name, value)

        store("epochs", checked_integer("epochs", self.epochs))
        store("batch_size", checked_integer("batch_size", self.batch_size))
        store("workers", checked_integer("workers", self.workers, 1, MAX_WORKERS))
        if self.patience is not None:
            store("patience", checked_integer("patience", self.patience))
        if not (_real(self.l2) and 0 <= self.l2 < math.inf):
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2!r}")
        store("l2", float(self.l2))
        if self.clip_norm is not None:
            if not (_real(self.clip_norm) and 0 < self.clip_norm < math.inf):
                raise ValueError(
                    f"clip_norm must be a positive finite number or None, got {self.clip_norm!r}"
                )
            store("clip_norm", float(self.clip_norm))
        if self.class_weights is not None:
            weights = np.asarray(self.class_weights, dtype=np.float64)
            if weights.ndim != 1 or not (weights >= 0).all() or not weights.any():
                raise ValueError(
                    "class_weights must be one number >= 0 per class, not all zero, "
                    f"got {self.class_weights!r}"
                )
            store("class_weights", weights)

    @classmethod
    def from_keywords(cls, where: str, settings: dict) -> FitSettings:
        """``FitSettings(**settings)``, with a ``TypeError`` that names ``where`` (the function the user
        called) and the settings there are, if one of the keywords is not a setting."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise TypeError(f"{where} got unknown settings {unknown}; the settings are {known}")
        return cls(**settings)


def _real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, (bool, np.bool_))


# NaN and infinity are caught explicitly in the loop and reported with a diagnosis; NumPy's warnings
# would only print "overflow encountered" before that.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def fit(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer,
    settings: FitSettings,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: tuple[Callback, ...] | list[Callback] = (),
    sample_weights: np.ndarray | None = None,
) -> History:
    """Train ``model`` in place by mini-batch gradient descent; returns the per-epoch :class:`History`.

    Each epoch shuffles the examples with ``rng``, splits them into mini-batches of
    ``settings.batch_size``, and for each batch runs ``model.train_step`` (forward, the cost, backward),
    adds the L2 term λW to each weight gradient, and lets ``optimizer`` step at the learning rate that
    ``settings.schedule`` gives. Stops with :class:`~digitnet.errors.NonFiniteError` as soon as the loss
    or a gradient is NaN or infinite.

    Parameters
    ----------
    model : Sequential
    x, y : ndarray
        Inputs (N, *input_shape) and integer labels (N,).
    optimizer : SGD or Adam
    settings : FitSettings
    rng : numpy.random.Generator
        Shuffles and draws dropout masks. Same seed, same data: bit-identical weights.
    validation : (x_val, y_val) or None
        Evaluated after every epoch; drives early stopping. Never pass the test set here.
    callbacks : list of Callback
    sample_weights : ndarray (N,) or None
        Each training example's weight in the cost (times its class weight, if any): a batch's cost is
        Σ s c / Σ s over its examples.
    """
    data = checked_fit_data(
        model, x, y, settings=settings, validation=validation, sample_weights=sample_weights
    )
    x, y, validation = data.x, data.y, data.validation
    loop = _Loop(model, optimizer, settings, rng, callbacks)
    loop.sample_weights = data.sample_weights
    n = len(x) if not settings.oversample else model.n_classes * int(np.bincount(y).max())
    history, stopping = History(), EarlyStopping(settings.patience)
    for cb in callbacks:
        cb.model = model
        cb.on_train_begin(settings.epochs, math.ceil(n / settings.batch_size))
    loop.start()
    try:
        for epoch in range(1, settings.epochs + 1):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            start = time.perf_counter()
            order = (
                balanced_order(y, model.n_classes, rng) if settings.oversample else rng.permutation(len(x))
            )
            loss_sum, correct = loop.epoch(epoch, x, y, order)
            logs = {
                "epoch": epoch,
                "loss": loss_sum / n,
                "accuracy": correct / n,
                "lr": loop.base_lr * (settings.schedule(epoch - 1) if settings.schedule is not None else 1.0),
                "seconds": time.perf_counter() - start,
            }
            if validation is not None:
                val = model.evaluate(*validation)
                logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
            history.epochs.append(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if validation is not None and stopping.should_stop(epoch, logs["val_loss"], model.parameters):
                history.stopped_early = True
                break
    finally:
        loop.finish()
    history.best_epoch = stopping.best_epoch
    if history.stopped_early:
        stopping.restore(model.parameters)  # the weights of the best validation epoch
    for cb in callbacks:
        cb.on_train_end(history)
    return history


class _Loop:
    """The state that lasts from batch to batch: the model, its optimiser, the settings, the generators,
    and, for ``workers > 1``, the worker processes."""

    def __init__(self, model, optimizer, settings: FitSettings, rng, callbacks):
        self.model, self.optimizer, self.settings, self.rng = model, optimizer, settings, rng
        self.callbacks = callbacks
        self.base_lr = optimizer.lr
        # Augmentation draws from its own stream, split off once, so that runs without it are unchanged.
        self.augment_rng = (
            np.random.default_rng(rng.integers(2**63)) if settings.augment is not None else None
        )
        self.replicas = None
        self.sample_weights = None  # (N,) or None: each example's weight, times its class's

    def start(self) -> None:
        """Start the worker processes, if any; from now on :meth:`finish` must run."""
        if self.settings.workers > 1:
            from digitnet.nn.parallel import Replicas  # processes only for those who ask for them

            self.replicas = Replicas(self.model, self.settings.workers, self.rng, self.settings.batch_size)

    def finish(self) -> None:
        self.optimizer.lr = self.base_lr
        if self.replicas is not None:
            self.replicas.close()

    def train_step(self, x, y, example_weights, predicted) -> float:
        """Forward, the cost and backward on one batch, in this process or split between the workers.

        Shapes: x (N, *input_shape), y (N,), example_weights (N,) or None; ``predicted`` (N,) receives
        each example's predicted class. Returns the batch's mean cost.
        """
        if self.replicas is not None:
            return self.replicas.train_step(x, y, example_weights, predicted)
        return self.model.train_step(x, y, example_weights=example_weights, rng=self.rng, predicted=predicted)

    def epoch(self, epoch: int, x: np.ndarray, y: np.ndarray, order: np.ndarray) -> tuple[float, int]:
        """One pass over the examples ``order`` lists; returns (Σ batch loss x batch size, correct count).

        Every step works on whole arrays: the parameters and gradients are each one flat array (see
        :class:`~digitnet.nn.parameters.Parameters`), so L2, the finiteness check and the optimiser's
        update are a few NumPy calls per batch however many layers there are.
        """
        model, optimizer, settings = self.model, self.optimizer, self.settings
        batch_size, schedule = settings.batch_size, settings.schedule
        n = len(order)
        batches = math.ceil(n / batch_size)
        parameters = model.parameters  # values (P,) and grads (P,); weights and weight_grads: what L2 decays
        l2 = x.dtype.type(settings.l2)
        predicted = np.empty(n, np.intp)  # (n,) each example's predicted class, for the epoch's accuracy
        # One buffer for every batch's images: a fresh (128, 784) float32 array per batch would be large
        # enough for the C library to map and unmap new pages each time, 10% of a 784-100-10 epoch.
        x_buffer = np.empty((min(batch_size, n), *x.shape[1:]), x.dtype)  # (N, D)
        loss_sum = 0.0
        with self.replicas.one_blas_thread_each() if self.replicas is not None else contextlib.nullcontext():
            for b in range(batches):
                batch = slice(b * batch_size, (b + 1) * batch_size)
                idx = order[batch]
                xb = x.take(idx, axis=0, out=x_buffer[: len(idx)], mode="clip")  # (N, D); "clip": no checks
                yb = y[idx]  # (N,)
                if settings.augment is not None:  # a new array, each image its own way
                    if getattr(settings.augment, "takes_labels", False):  # styles drawn by digit
                        xb = settings.augment(xb, self.augment_rng, labels=yb)
                    else:
                        xb = settings.augment(xb, self.augment_rng)
                example_weights = (
                    None if settings.class_weights is None else settings.class_weights[yb]
                )  # (N,)
                if self.sample_weights is not None:
                    picked = self.sample_weights[idx]
                    example_weights = picked if example_weights is None else example_weights * picked
                loss = self.train_step(
                    xb, yb, example_weights, predicted[batch]
                )  # gradient in parameters.grads
                if not math.isfinite(loss):
                    raise _nonfinite_loss(model, xb, epoch, b + 1, optimizer.lr)
                if settings.l2:
                    parameters.weight_grads += l2 * parameters.weights  # d/dW of (λ/2)‖W‖²
                squared = float(np.vdot(parameters.grads, parameters.grads))  # ‖g‖²
                if not math.isfinite(squared):  # NaN or ±inf in any g, or a float32 sum of squares past 3e38
                    _check_gradients_finite(model, epoch, b + 1, optimizer.lr)
                    squared = float(np.linalg.norm(parameters.grads.astype(np.float64))) ** 2
                if settings.clip_norm is not None and squared > settings.clip_norm**2:
                    parameters.grads *= parameters.grads.dtype.type(settings.clip_norm / math.sqrt(squared))
                if schedule is not None:
                    optimizer.lr = self.base_lr * schedule(epoch - 1 + b / batches)
                optimizer.step([parameters.values], [parameters.grads])  # θ ← θ - η·(the rule's step)
                loss_sum += loss * len(idx)
                for cb in self.callbacks:
                    cb.on_batch_end(epoch, b + 1, loss)
        correct = int(np.count_nonzero(predicted == y[order]))
        return loss_sum, correct


def balanced_order(y: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Oversampling: every example once, plus rare classes' examples drawn again at random until every
    class has as many as the largest; shuffled. Shape: (N,) labels -> (C · max_c n_c,) indices."""
    counts = np.bincount(y, minlength=n_classes)
    target = counts.max()
    parts = []
    for c in range(n_classes):
        members = np.flatnonzero(y == c)
        if len(members):
            extra = rng.choice(members, target - len(members), replace=True)
            parts += [members, extra]
    order = np.concatenate(parts)
    rng.shuffle(order)
    return order


def _check_gradients_finite(model, epoch, batch, lr) -> None:
    """Name the first gradient array with a NaN or infinity; Σg² can also overflow with finite values,
    in which case nothing is wrong and training goes on."""
    for name, (_, g) in model.parameters.arrays.items():
        if not np.isfinite(g).all():
            raise NonFiniteError(
                f"training stopped: the gradient of {name} became NaN or infinite at epoch {epoch}, "
                f"batch {batch} (learning rate {lr:g}). The weights were blowing up: lower the learning "
                "rate, or use ReLU with He initialisation.",
                what=name,
                epoch=epoch,
                batch=batch,
            )


def _nonfinite_loss(model, xb, epoch, batch, lr) -> NonFiniteError:
    """Find where a NaN or infinity first appears, to say which layer it came from."""
    where = "the cost"
    for i, layer in enumerate(model.layers):
        if any(not np.isfinite(p).all() for p in layer.params.values()):
            where = f"the parameters of layer {i} ({layer.describe()})"
            break
    else:
        if not np.isfinite(xb).all():
            where = "the input images"
        else:
            with np.errstate(all="ignore"):
                outputs = model.layer_outputs(xb)
            for i, (layer, h) in enumerate(zip(model.layers, outputs)):
                if not np.isfinite(h).all():
                    where = f"the output of layer {i} ({layer.describe()})"
                    break
    return NonFiniteError(
        f"training stopped: the loss became NaN or infinite at epoch {epoch}, batch {batch}; the first "
        f"non-finite values are in {where} (learning rate {lr:g}). Lower the learning rate, check the "
        "inputs for NaN, or use ReLU with He initialisation.",
        what="loss",
        epoch=epoch,
        batch=batch,
    )
