"""The training settings, one row each: the table every front end reads.

A row says how a setting is written as text (one syntax for ``digitnet train``'s flags, sweep files,
``--grid`` and anything later), how that text is read, its help, its range and what None means.
``digitnet train``'s flags and their ``--help``, the sweeps' parsing and the scikit-learn estimator's list
of parameters are all made from it; :class:`~digitnet.training.config.TrainConfig` holds the values and
checks how they go together. Adding a setting: its field in ``TrainConfig``, its row here, its wiring
(where the network or the loop uses it).

Text forms::

    hidden   100   16x16   none           layer sizes, "x" between them; none: no hidden layer
    conv     6/16  32x32/64x64  none      stages, "/" between them (each pooled 2x2), "x" within one
    bools    true  false                  (on the command line: --batch-norm / --no-batch-norm)
    optional none                         for settings whose None means something (see each row)

In a grid or a list of values, commas separate the values: ``hidden=100,16x16,none``.
"""

from __future__ import annotations

from digitnet.imaging.augment import AUGMENTATIONS
from digitnet.nn.activations import ACTIVATIONS
from digitnet.nn.costs import COSTS
from digitnet.nn.initializers import INITIALIZERS
from digitnet.nn.optimizers import OPTIMIZERS
from digitnet.nn.schedules import SCHEDULES
from digitnet.nn.training import MAX_WORKERS
from digitnet.training.setting import Setting, show_value

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "MAX_BATCH_SIZE",
    "MAX_EPOCHS",
    "MAX_LAYER_SIZE",
    "SETTINGS",
    "Setting",
    "show_value",
]

MAX_EPOCHS = 100_000
"""Most epochs a run may ask for: Nielsen's overfitting demonstration trains 400 on 1,000 images, so this
leaves room for any experiment and refuses a typo such as 1000000000."""

MAX_LAYER_SIZE = 2**24
"""Most units or filters in one layer: the model file's limit on any one size."""

MAX_BATCH_SIZE = 60_000
"""The whole MNIST training set in one batch: full-batch gradient descent."""

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu")


_NET, _OPT, _DATA = "network", "optimisation", "data and output"

SETTINGS: dict[str, Setting] = {
    row.name: row
    for row in (
        Setting("hidden", "sizes", "hidden layer sizes, e.g. 16x16", _NET, "SIZES"),
        Setting(
            "conv",
            "stages",
            "convolutional stages before the dense layers, e.g. 6/16 (LeNet-5) or 32x32/64x64: filters of "
            "each same-padded convolution, '/' where 2x2 max-pooling halves the image; none for an MLP",
            _NET,
            "STAGES",
        ),
        Setting("kernel_size", "int", "convolution kernel size (odd)", _NET, "K", low=1),
        Setting(
            "batch_norm", "bool", "batch normalisation after every convolution and hidden dense layer", _NET
        ),
        Setting("activation", "choice", "hidden-layer activation", _NET, choices=HIDDEN_ACTIVATIONS),
        Setting("cost", "choice", "cost function", _NET, choices=tuple(sorted(COSTS))),
        Setting(
            "init",
            "choice",
            "weight initialiser",
            _NET,
            choices=tuple(sorted(INITIALIZERS)),
            none_means="by activation: He for ReLU, LeCun for sigmoid, Glorot for tanh",
        ),
        Setting("dropout", "float", "dropout rate after each hidden layer", _NET, "P", low=0, high=1),
        Setting("input_dropout", "float", "dropout rate on the input pixels", _NET, "P", low=0, high=1),
        Setting("optimizer", "choice", "update rule", choices=tuple(sorted(OPTIMIZERS))),
        Setting("lr", "float", "learning rate (step size)", low=0, above=True),
        Setting("momentum", "float", "SGD momentum", low=0, high=1),
        Setting("nesterov", "bool", "Nesterov momentum"),
        Setting("schedule", "choice", "learning-rate schedule", choices=tuple(sorted(SCHEDULES))),
        Setting("batch_size", "int", "mini-batch size", metavar="N", low=1, high=MAX_BATCH_SIZE),
        Setting("epochs", "int", "passes over the training set", metavar="N", low=1, high=MAX_EPOCHS),
        Setting("l2", "float", "L2 weight decay λ", metavar="LAMBDA", low=0),
        Setting(
            "clip_norm",
            "float",
            "rescale each batch's gradient to at most this length (its L2 norm over every parameter) "
            "before the step",
            metavar="C",
            low=0,
            above=True,
            none_means="none: never clipped",
            since="0.2",
        ),
        Setting(
            "patience",
            "int",
            "stop after this many epochs without validation improvement",
            metavar="N",
            low=1,
            high=MAX_EPOCHS,
            none_means="none: train every epoch",
        ),
        Setting(
            "seed",
            "int",
            "seed of initial weights, shuffling and dropout",
            metavar="N",
            low=0,
            estimator=False,
        ),
        Setting(
            "augment",
            "choice",
            "distort every training batch at random: affine (shift, rotation, scale, shear), elastic "
            "(affine plus Simard's elastic distortion) or styles (affine plus writing styles MNIST lacks "
            "drawn onto some digits: slashed 0, flagged or footed 1, crossed 7, curled 9)",
            choices=tuple(AUGMENTATIONS),
            none_means="none",
        ),
        Setting("oversample", "bool", "redraw rare classes' images so every class is seen equally often"),
        Setting(
            "class_weighted", "bool", "weight each class's cost by N / (10 n_c) so rare classes count as much"
        ),
        Setting(
            "validation_size",
            "int",
            "training images held out for validation (0: none)",
            _DATA,
            "N",
            low=0,
            high=59_999,
            estimator=False,
        ),
        Setting(
            "train_size",
            "int",
            "use only the first N training images",
            _DATA,
            "N",
            low=1,
            none_means="all",
            estimator=False,
        ),
        Setting(
            "pen_digits",
            "int",
            "also train on N copies of the digits 20 people drew with a pen (UCI pen digits, writers 1 to "
            "20; writers 21 to 30 are kept for validation), each copy drawn with another pen width as the "
            "drawing page draws; downloaded on first use into the cache, or read from $DIGITNET_PENDIGITS",
            _DATA,
            "N",
            low=0,
            high=5,
            estimator=False,
        ),
        Setting(
            "workers",
            "int",
            "split every batch between N copies of the network, each on its own core (the conv presets use "
            "2: 1.4-1.8x faster on 2 cores; MLPs train slower). Part of the recipe: the same seed gives the "
            "same weights only with the same N",
            _DATA,
            "N",
            low=1,
            high=MAX_WORKERS,
        ),
        Setting(
            "output_activation",
            "choice",
            "the output layer's activation",
            choices=tuple(sorted(ACTIVATIONS)),
            none_means="sigmoid for the quadratic cost, none (logits) for cross-entropy",
            flag=False,
        ),
    )
}
"""Every training setting by name, in the order ``digitnet train --help`` lists them."""
