"""From a :class:`TrainConfig` to a trained network: the one training path that the CLI and the
experiments share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.config import TrainConfig
from digitnet.data.augment import AUGMENTATIONS
from digitnet.data.mnist import MNIST, Split
from digitnet.nn import ACTIVATIONS, OPTIMIZERS, Callback, Dense, Dropout, History, Sequential
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.conv import Conv2D
from digitnet.nn.costs import balanced_class_weights
from digitnet.nn.pooling import MaxPool2D
from digitnet.nn.reshape import Flatten
from digitnet.nn.schedules import make_schedule

__all__ = ["TrainResult", "build_model", "make_optimizer", "train"]


def build_model(config: TrainConfig) -> Sequential:
    """The network ``config`` describes, weights drawn from ``config.seed``.

    An MLP is 784 → hidden layers (each Dense, activation, optional dropout) → 10. With ``config.conv``
    the 28x28 image first passes through convolutional stages (each "same"-padded Conv2D followed by
    the activation, then 2x2 max-pooling), is flattened, and continues into the dense layers. With
    ``config.batch_norm``, BatchNorm sits between every convolution or hidden dense layer and its
    activation.
    """
    act = ACTIVATIONS[config.activation]
    layers: list = [Dropout(config.input_dropout)] if config.input_dropout else []

    def weighted(layer):  # a convolution or hidden dense layer, its normalisation, its activation
        return [layer, *([BatchNorm()] if config.batch_norm else []), act()]

    for stage in config.conv:
        for filters in stage:
            layers += weighted(Conv2D(filters, config.kernel_size, padding=config.kernel_size // 2,
                                      init=config.init))  # fmt: skip
        layers.append(MaxPool2D(2))
    if config.conv:
        layers.append(Flatten())  # (N, F, H, W) -> (N, F·H·W)
    for units in config.hidden:
        layers += weighted(Dense(units, init=config.init))
        if config.dropout:
            layers.append(Dropout(config.dropout))
    layers.append(Dense(10, init=config.init))
    output = config.output_activation or ("sigmoid" if config.cost == "quadratic" else "identity")
    if output != "identity":
        layers.append(ACTIVATIONS[output]())
    input_shape = (1, 28, 28) if config.conv else (784,)
    return Sequential(
        layers, cost=config.cost, input_shape=input_shape, rng=np.random.default_rng(config.seed)
    )


def make_optimizer(config: TrainConfig):
    """The optimiser ``config`` names, with its learning rate and momentum."""
    if config.optimizer == "sgd":
        return OPTIMIZERS["sgd"](config.lr, momentum=config.momentum, nesterov=config.nesterov)
    return OPTIMIZERS[config.optimizer](config.lr)


@dataclass
class TrainResult:
    """A trained model, its history, and its final scores."""

    model: Sequential
    history: History
    metrics: dict[str, Any]


def train(config: TrainConfig, data: MNIST, callbacks: list[Callback] | tuple = ()) -> TrainResult:
    """Build, train and test the network ``config`` describes on ``data``.

    ``data`` is used as split; ``config.train_size``, when set, keeps only its first training images.
    The test split is touched once, after training; selection (early stopping) sees only validation.
    ``metrics`` holds ``test_accuracy``, ``test_loss``, the final training and validation figures, the
    number of parameters, and ``train_seconds``.
    """
    if config.train_size is not None and config.train_size < len(data.train):
        train_split = Split(data.train.x[: config.train_size], data.train.y[: config.train_size])
        data = MNIST(train=train_split, validation=data.validation, test=data.test)
    model = build_model(config)
    validation = (data.validation.x, data.validation.y) if len(data.validation) else None
    start = time.perf_counter()
    history = model.fit(
        data.train.x,
        data.train.y,
        optimizer=make_optimizer(config),
        epochs=config.epochs,
        batch_size=config.batch_size,
        rng=np.random.default_rng([config.seed, 1]),  # a stream apart from the initial weights'
        schedule=make_schedule(config.schedule, config.epochs),
        l2=config.l2,
        validation=validation,
        patience=config.patience,
        callbacks=callbacks,
        class_weights=balanced_class_weights(data.train.y, 10) if config.class_weighted else None,
        oversample=config.oversample,
        augment=AUGMENTATIONS[config.augment] if config.augment else None,
        workers=config.workers,
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
