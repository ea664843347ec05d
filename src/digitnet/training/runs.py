"""From a :class:`TrainConfig` to a trained network: the one training path that the CLI and the
experiments share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.data.mnist import MNIST
from digitnet.data.pendigits import pen_training_digits
from digitnet.imaging.augment import AUGMENTATIONS
from digitnet.nn import OPTIMIZERS, Callback, History, Sequential
from digitnet.nn.costs import balanced_class_weights
from digitnet.nn.schedules import make_schedule
from digitnet.nn.training import FitSettings, fit
from digitnet.training.config import TrainConfig
from digitnet.training.network import image_side, network_layers

__all__ = [
    "TrainResult",
    "build_model",
    "fit_settings",
    "make_optimizer",
    "train",
    "training_rng",
]


def build_model(config: TrainConfig, *, features: int = 784, classes: int = 10) -> Sequential:
    """The network ``config`` describes (see :func:`network_layers`), weights drawn from ``config.seed``.

    The quadratic cost compares activations with the one-hot target, so its output layer is a sigmoid
    unless ``config.output_activation`` says otherwise; cross-entropy takes the raw scores (logits).
    ``features`` inputs (784 pixels of a digit) and ``classes`` outputs: other data than MNIST, as
    :mod:`digitnet.sklearn` trains on. A convolutional network reads square images of
    :func:`image_side` pixels a side: 28x28 for MNIST, 8x8 for scikit-learn's ``load_digits``.
    """
    output = config.output_activation or ("sigmoid" if config.cost == "quadratic" else "identity")
    layers = network_layers(
        hidden=config.hidden,
        activation=config.activation,
        conv=config.conv,
        kernel_size=config.kernel_size,
        batch_norm=config.batch_norm,
        dropout=config.dropout,
        input_dropout=config.input_dropout,
        init=config.init,
        output=output,
        classes=classes,
    )
    side = image_side(features, len(config.conv))
    input_shape = (1, side, side) if config.conv else (features,)
    return Sequential(
        layers, cost=config.cost, input_shape=input_shape, rng=np.random.default_rng(config.seed)
    )


def make_optimizer(config: TrainConfig):
    """The optimiser ``config`` names, with its learning rate and momentum."""
    if config.optimizer == "sgd":
        return OPTIMIZERS["sgd"](config.lr, momentum=config.momentum, nesterov=config.nesterov)
    return OPTIMIZERS[config.optimizer](config.lr)


def fit_settings(config: TrainConfig, labels: np.ndarray, *, classes: int, epochs: int | None = None):
    """The :class:`FitSettings` of ``config`` for training labels ``labels`` (N,) of ``classes`` classes
    (class weights are counted from them); ``epochs`` replaces ``config.epochs`` (one, for a
    scikit-learn ``partial_fit``)."""
    epochs = config.epochs if epochs is None else epochs
    return FitSettings(
        epochs=epochs,
        batch_size=config.batch_size,
        schedule=make_schedule(config.schedule, epochs),
        l2=config.l2,
        clip_norm=config.clip_norm,
        patience=config.patience,
        class_weights=balanced_class_weights(labels, classes) if config.class_weighted else None,
        oversample=config.oversample,
        augment=AUGMENTATIONS[config.augment] if config.augment else None,
        workers=config.workers,
    )


def training_rng(config: TrainConfig) -> np.random.Generator:
    """Shuffling and dropout masks: a stream of ``config.seed`` apart from the initial weights'."""
    return np.random.default_rng([config.seed, 1])


@dataclass
class TrainResult:
    """A trained model, its history, and its final scores."""

    model: Sequential
    history: History
    metrics: dict[str, Any]


def train(
    config: TrainConfig, data: MNIST, callbacks: list[Callback] | tuple = (), *, progress: bool = False
) -> TrainResult:
    """Build, train and test the network ``config`` describes on ``data``.

    ``data`` is used as split; ``config.train_size``, when set, keeps only its first training images, and
    ``config.pen_digits`` adds that many copies of the pen-drawn digits of the training writers
    (:func:`digitnet.data.pendigits.pen_training_digits`, downloaded on first use; ``progress`` shows a
    bar while they are drawn).
    The test split is touched once, after training; selection (early stopping) sees only validation.
    ``metrics`` holds ``test_accuracy``, ``test_loss``, the final training and validation figures, the
    number of parameters, and ``train_seconds``.
    """
    data = data.first(config.train_size)
    if config.pen_digits:  # people's pen-drawn digits beside MNIST's, drawn as the page draws
        data = data.with_extra_training(*pen_training_digits(config.pen_digits, progress=progress))
    model = build_model(config)
    validation = (data.validation.x, data.validation.y) if len(data.validation) else None
    start = time.perf_counter()
    history = fit(
        model,
        data.train.x,
        data.train.y,
        optimizer=make_optimizer(config),
        settings=fit_settings(config, data.train.y, classes=10),
        rng=training_rng(config),
        validation=validation,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    test = model.evaluate(data.test.x, data.test.y)
    last = history.epochs[-1]
    metrics = {
        "architecture": config.architecture,
        "parameters": model.n_params,
        "epochs_trained": len(history),
        "train_examples": len(data.train),
        "train_seconds": round(seconds, 3),
        "train_loss": last["loss"],
        "train_accuracy": last["accuracy"],
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
    }
    if validation is not None:
        best = history.best_epoch or len(history)
        metrics["val_loss"] = (
            history.epochs[best - 1]["val_loss"] if history.stopped_early else last["val_loss"]
        )
        metrics["val_accuracy"] = model.evaluate(*validation)["accuracy"]
    return TrainResult(model, history, metrics)
