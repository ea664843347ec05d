"""The training loop: mini-batch gradient descent over epochs, with validation and early stopping.

One loop serves every caller (``Sequential.fit``, ``digitnet train``, the experiments), so what is
measured is always what users run.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from digitnet.errors import NonFiniteError
from digitnet.nn.parallel import Replicas

if TYPE_CHECKING:
    from digitnet.nn.model import Sequential

__all__ = ["Callback", "History", "fit"]


@dataclass
class History:
    """What happened during training, one dict per epoch.

    Each epoch's dict has ``epoch`` (from 1), ``loss`` and ``accuracy`` (running averages over the
    epoch's mini-batches, with dropout active), ``lr`` (at the epoch's start), ``seconds``, and, when
    validation data was given, ``val_loss`` and ``val_accuracy``. ``history["val_accuracy"]`` gives a
    list over epochs.
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(list(d.get("epochs", [])), d.get("best_epoch"), bool(d.get("stopped_early")))


class Callback:
    """Hooks into the training loop; override what you need. ``digitnet train``'s progress bars are one.

    ``fit`` sets ``self.model`` before ``on_train_begin``, so a hook can read the parameters and their
    gradients (``model.trainable()``) after every batch.
    """

    model = None

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_end(self, epoch: int, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, history: History) -> None: ...


def _check_labels(y, n_classes, what):
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} labels must be a 1-D array of integer class ids, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what} labels must lie in 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    return y.astype(np.intp)


# NaN and infinity are caught explicitly in the loop and reported with a diagnosis; NumPy's warnings
# would only print "overflow encountered" before that.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def fit(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    schedule=None,
    l2: float = 0.0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    patience: int | None = None,
    callbacks: tuple[Callback, ...] | list[Callback] = (),
    class_weights: np.ndarray | None = None,
    oversample: bool = False,
    augment=None,
    workers: int = 1,
) -> History:
    """Train ``model`` in place by mini-batch gradient descent; see :meth:`Sequential.fit`."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (l2 >= 0 and math.isfinite(l2)):
        raise ValueError(f"l2 must be a non-negative number, got {l2!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if patience is not None and (patience < 1 or validation is None):
        raise ValueError("early stopping needs patience >= 1 and validation data")
    x = model.as_input(x)
    y = _check_labels(y, model.n_classes, "training")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} training images but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("no training examples")
    if validation is not None:
        vx = model.as_input(validation[0])
        vy = _check_labels(validation[1], model.n_classes, "validation")
        if len(vx) != len(vy):
            raise ValueError(f"{len(vx)} validation images but {len(vy)} labels")
        if len(vx) == 0:
            validation = None

    if class_weights is not None:
        class_weights = np.asarray(class_weights, dtype=np.float64)
        if (
            class_weights.shape != (model.n_classes,)
            or not (class_weights >= 0).all()
            or not class_weights.any()
        ):
            raise ValueError(f"class_weights must be {model.n_classes} non-negative numbers, not all zero")
    n = len(x) if not oversample else model.n_classes * int(np.bincount(y).max())
    batches = math.ceil(n / batch_size)
    history = History()
    best_loss, best_params, bad_epochs = math.inf, None, 0
    # Augmentation draws from its own stream, split off once, so that runs without it are unchanged.
    augment_rng = np.random.default_rng(rng.integers(2**63)) if augment is not None else None
    base_lr = optimizer.lr
    for cb in callbacks:
        cb.model = model
        cb.on_train_begin(epochs, batches)
    # Replicas split off their dropout generators only for workers > 1, so one worker is unchanged.
    replicas = Replicas(model, workers, rng, batch_size)
    try:
        for epoch in range(1, epochs + 1):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            start = time.perf_counter()
            order = balanced_order(y, model.n_classes, rng) if oversample else rng.permutation(len(x))
            with _one_blas_thread_per_worker(workers):
                loss_sum, correct = _train_epoch(
                    model,
                    x,
                    y,
                    order,
                    optimizer,
                    base_lr,
                    schedule,
                    l2,
                    batch_size,
                    epoch,
                    replicas,
                    callbacks,
                    class_weights,
                    None if augment is None else (augment, augment_rng),
                )
            logs = {
                "epoch": epoch,
                "loss": loss_sum / n,
                "accuracy": correct / n,
                "lr": base_lr * (schedule(epoch - 1) if schedule is not None else 1.0),
                "seconds": time.perf_counter() - start,
            }
            if validation is not None:
                val = model.evaluate(vx, vy)
                logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
            history.epochs.append(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if validation is None:
                continue
            if logs["val_loss"] < best_loss:
                best_loss, bad_epochs, history.best_epoch = logs["val_loss"], 0, epoch
                if patience is not None:
                    best_params = model.flat_params.copy()
            else:
                bad_epochs += 1
                if patience is not None and bad_epochs >= patience:
                    history.stopped_early = True
                    break
    finally:
        optimizer.lr = base_lr
        replicas.close()
    if history.stopped_early:
        model.flat_params[...] = best_params  # restore the weights of the best validation epoch
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _one_blas_thread_per_worker(workers: int):
    """While W > 1 workers train, each one's products run on one BLAS thread, on its own core (W BLAS
    threads on W cores would each spin against the other workers). Evaluation, and training with one
    worker, keep the BLAS's own threads."""
    return threadpool_limits(1, user_api="blas") if workers > 1 else contextlib.nullcontext()


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


def _train_epoch(
    model, x, y, order, optimizer, base_lr, schedule, l2, batch_size, epoch, replicas, callbacks, class_weights,
    augmentation,
):  # fmt: skip
    """One pass over ``order``; returns (sum of batch losses x batch sizes, correct count).

    Every step works on whole arrays: the parameters and gradients are each one flat array (see
    ``Sequential._pack_parameters``), so L2, the finiteness check and the optimiser's update are a few
    NumPy calls per batch however many layers there are.
    """
    n = len(order)
    batches = math.ceil(n / batch_size)
    params, grads = model.flat_params, model.flat_grads  # (P,), (P,)
    weights, weight_grads = params[: model.n_decayed], grads[: model.n_decayed]  # what L2 applies to
    l2_ = x.dtype.type(l2)
    predicted = np.empty(n, np.intp)  # (n,) each example's predicted class, for the epoch's accuracy
    # One buffer for every batch's images: a fresh (128, 784) float32 array per batch would be large
    # enough for the C library to map and unmap new pages each time, 10% of a 784-100-10 epoch.
    x_buffer = np.empty((min(batch_size, n), *x.shape[1:]), x.dtype)  # (N, D)
    loss_sum = 0.0
    for b in range(batches):
        batch = slice(b * batch_size, (b + 1) * batch_size)
        idx = order[batch]
        xb = x.take(idx, axis=0, out=x_buffer[: len(idx)], mode="clip")  # (N, D); "clip": no checks
        if augmentation:
            augment, augment_rng = augmentation
            xb = augment(xb, augment_rng)  # a new array, each image distorted its own way
        yb = y[idx]  # (N,)
        example_weights = None if class_weights is None else class_weights[yb]  # (N,)
        # forward, the cost and backward, on each worker's shard of the batch (one shard for one worker)
        loss = replicas.forward_backward(xb, yb, example_weights, predicted[batch])
        if not math.isfinite(loss):
            raise _nonfinite_loss(model, xb, epoch, b + 1, optimizer.lr)
        if l2:
            weight_grads += l2_ * weights  # d/dW of (λ/2)‖W‖²
        if not math.isfinite(np.vdot(grads, grads)):  # NaN or ±inf anywhere makes Σg² non-finite
            _check_gradients_finite(model, epoch, b + 1, optimizer.lr)
        if schedule is not None:
            optimizer.lr = base_lr * schedule(epoch - 1 + b / batches)
        optimizer.step([params], [grads])
        loss_sum += loss * len(idx)
        for cb in callbacks:
            cb.on_batch_end(epoch, b + 1, loss)
    correct = int(np.count_nonzero(predicted == y[order]))
    return loss_sum, correct


def _check_gradients_finite(model, epoch, batch, lr) -> None:
    """Name the first gradient array with a NaN or infinity; Σg² can also overflow with finite values,
    in which case nothing is wrong and training goes on."""
    _, grads, names = model.trainable()
    for name, g in zip(names, grads):
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
        with np.errstate(all="ignore"):
            h = xb
            if not np.isfinite(h).all():
                where = "the input images"
            else:
                for i, layer in enumerate(model.layers):
                    h = layer.forward(h, training=False)
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
