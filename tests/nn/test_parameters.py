"""Parameters: every trainable number in one flat array, the decayed weights first, views by name."""

import numpy as np
import pytest

from digitnet.nn import Dense, Dropout, Parameters, ReLU, Sequential
from digitnet.nn.parameters import copy_by_name


def test_parameters_live_in_one_flat_array_with_the_weights_first():
    net = Sequential([Dropout(0.1), Dense(16), ReLU(), Dense(3)], input_shape=(20,), rng=0)
    assert net.parameters.values.shape == net.parameters.grads.shape == (net.n_params,)
    for layer in net.layers:
        for k, p in layer.params.items():
            assert np.shares_memory(p, net.parameters.values)
            assert np.shares_memory(layer.grads[k], net.parameters.grads)
    assert len(net.parameters.weights) == 20 * 16 + 16 * 3  # the two W; the biases follow
    decayed = net.parameters.weights
    np.testing.assert_array_equal(decayed[: 20 * 16], net.layers[1].params["W"].ravel())
    clone = net.astype(np.float64)  # a copy packs its own arrays
    assert clone.parameters.values.dtype == np.float64 and not np.shares_memory(
        clone.parameters.values, net.parameters.values
    )
    np.testing.assert_allclose(clone.parameters.values, net.parameters.values)


def test_parameters_that_keep_given_values_need_those_values():
    net = Sequential([Dense(16), ReLU(), Dense(3)], input_shape=(20,), rng=0)
    with pytest.raises(ValueError, match="copy=False keeps the values already in `values`"):
        Parameters(net.layers, copy=False)
    shared = net.parameters.values * 2
    adopted = Parameters(net.layers, shared, copy=False)  # a worker adopting the trainer's weights
    assert adopted.values is shared and np.shares_memory(net.layers[0].params["W"], shared)


def test_arrays_name_each_layers_views_in_layer_order():
    net = Sequential([Dense(4), ReLU(), Dense(3)], input_shape=(5,), rng=0)
    arrays = net.parameters.arrays
    assert list(arrays) == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]
    weight, gradient = arrays["layers.2.W"]
    assert weight is net.layers[2].params["W"] and gradient is net.layers[2].grads["W"]
    assert weight.shape == gradient.shape == (4, 3)


def test_the_l2_penalty_is_half_lambda_times_the_squared_weights():
    net = Sequential([Dense(2), ReLU(), Dense(2)], input_shape=(2,), rng=0)
    net.set_params(
        {
            "layers.0.W": np.full((2, 2), 2.0),
            "layers.0.b": np.full(2, 9.0),
            "layers.2.W": np.full((2, 2), 1.0),
            "layers.2.b": np.full(2, 9.0),
        }
    )
    assert net.parameters.l2_penalty(0.1) == pytest.approx(0.5 * 0.1 * (4 * 4 + 4 * 1))  # biases not decayed


def test_copying_by_name_needs_the_same_names_and_shapes():
    own = {"a": np.zeros(2), "b": np.zeros((2, 2))}
    copy_by_name(own, {"a": np.ones(2), "b": np.full((2, 2), 3.0)})
    assert own["a"].tolist() == [1, 1] and own["b"].sum() == 12
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['c'\]"):
        copy_by_name(own, {"a": np.ones(2), "c": np.ones(2)})
    with pytest.raises(ValueError, match=r"parameter b has shape \(4,\), the architecture needs \(2, 2\)"):
        copy_by_name(own, {"a": np.ones(2), "b": np.ones(4)})
