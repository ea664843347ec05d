"""The neural-network engine: layers, costs, initialisers, optimisers, schedules and the model.

Shape letters used throughout the package:

====  =========================================================
N     examples in a mini-batch
D     input features of a layer (784 for a flat MNIST digit)
U     units (output features) of a dense layer
C     classes, the network's outputs (10 for digits); channels, in the convolutional layers
H, W  image height and width;  K kernel size;  F filters (see conv.py)
====  =========================================================

Everything runs in float32 for training and inference; the gradient checks run the same code in float64.
"""

from digitnet.nn.activations import ACTIVATIONS, Identity, ReLU, Sigmoid, Softmax, Tanh
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.callbacks import Callback, History
from digitnet.nn.conv import Conv2D
from digitnet.nn.costs import COSTS, CrossEntropy, Quadratic
from digitnet.nn.dense import Dense
from digitnet.nn.dropout import Dropout
from digitnet.nn.initializers import INITIALIZERS
from digitnet.nn.layer import LAYERS, Layer
from digitnet.nn.model import Sequential
from digitnet.nn.optimizers import OPTIMIZERS, SGD, Adam
from digitnet.nn.parameters import Parameters
from digitnet.nn.pooling import AvgPool2D, MaxPool2D
from digitnet.nn.rescaling import Rescaling
from digitnet.nn.reshape import Flatten
from digitnet.nn.schedules import SCHEDULES, Constant, Cosine, StepDecay
from digitnet.nn.training import FitSettings

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "INITIALIZERS",
    "LAYERS",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AvgPool2D",
    "BatchNorm",
    "Callback",
    "Constant",
    "Conv2D",
    "Cosine",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "FitSettings",
    "Flatten",
    "History",
    "Identity",
    "Layer",
    "MaxPool2D",
    "Parameters",
    "Quadratic",
    "ReLU",
    "Rescaling",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StepDecay",
    "Tanh",
]
