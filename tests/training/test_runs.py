"""The one training path's network builder: the layers each configuration gets."""

import numpy as np
import pytest

from digitnet.nn import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, Sigmoid, Tanh
from digitnet.nn.inspect import architecture_text
from digitnet.training.config import TrainConfig
from digitnet.training.network import network_layers
from digitnet.training.presets import PRESETS
from digitnet.training.runs import build_model


def kinds(layers):
    return [type(layer).__name__ for layer in layers]


def test_an_mlp_is_dense_activation_pairs_then_the_outputs():
    layers = network_layers(hidden=(16, 16), activation="sigmoid", output="sigmoid")
    assert kinds(layers) == ["Dense", "Sigmoid", "Dense", "Sigmoid", "Dense", "Sigmoid"]


def test_a_stage_pools_before_its_last_relu_and_after_any_other_activation():
    relu = network_layers(hidden=(8,), activation="relu", conv=((4, 6), (8,)), batch_norm=True)
    assert kinds(relu)[:11] == [
        "Conv2D",
        "BatchNorm",
        "ReLU",
        "Conv2D",
        "BatchNorm",
        "MaxPool2D",
        "ReLU",
        "Conv2D",
        "BatchNorm",
        "MaxPool2D",
        "ReLU",
    ]
    tanh = network_layers(hidden=(8,), activation="tanh", conv=((4,),))
    assert kinds(tanh)[:3] == ["Conv2D", "Tanh", "MaxPool2D"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_pooling_before_relu_gives_the_same_outputs_and_gradients_bit_for_bit(batch_norm):
    """relu(max(z)) = max(relu(z)) exactly, and the gradient reaches the same tap: the two orders agree in
    every bit, ties included (the zero-padded border makes whole windows of equal values)."""
    config = TrainConfig(conv=((4,), (6,)), kernel_size=3, batch_norm=batch_norm, hidden=(12,))
    pooled_first = build_model(config)
    layers = []
    for layer in network_layers(
        hidden=(12,), activation="relu", conv=((4,), (6,)), kernel_size=3, batch_norm=batch_norm
    ):
        if isinstance(layer, ReLU) and layers and isinstance(layers[-1], MaxPool2D):
            layers[-1:] = [layer, layers[-1]]  # the classic order: activation, then pooling
        else:
            layers.append(layer)
    classic = Sequential(layers, input_shape=(1, 28, 28), rng=0)
    classic.set_state(pooled_first.named_state())
    x = np.zeros((16, 1, 28, 28), np.float32)
    x[:, :, 8:20, 10:18] = np.random.default_rng(1).random((16, 1, 12, 8), dtype=np.float32)  # blank border
    y = np.arange(16) % 10
    np.testing.assert_array_equal(classic.forward(x), pooled_first.forward(x))
    classic.train_step(x, y, rng=np.random.default_rng(2))
    pooled_first.train_step(x, y, rng=np.random.default_rng(2))
    for name in pooled_first.parameters.arrays:
        np.testing.assert_array_equal(
            classic.parameters.arrays[name][1], pooled_first.parameters.arrays[name][1]
        )


def test_build_model_names_parameters_as_before():
    model = build_model(TrainConfig(conv=((6,), (16,)), hidden=(120, 84)))
    assert list(model.named_params()) == [
        f"layers.{i}.{k}" for i in (0, 3, 7, 9, 11) for k in ("W", "b")
    ]  # the bundled lenet5 model's names: its files load into the new order
    assert [type(model.layers[i]) for i in (0, 3, 7)] == [Conv2D, Conv2D, Dense]
    assert isinstance(model.layers[6], Flatten) and not any(
        isinstance(a, (Sigmoid, Tanh, BatchNorm)) for a in model.layers
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_configurations_architecture_is_its_networks(preset):
    """One line for a network, derived from its layers: the configuration's (no weights built) is the
    built model's, which the report's title and a model file's metrics show."""
    config = PRESETS[preset][1]
    model = build_model(config)
    assert config.architecture == model.architecture == architecture_text(model.config())
