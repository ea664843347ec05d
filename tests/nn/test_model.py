"""Sequential: its summary, the inputs it takes, backward, and the layers' outputs it shows."""

import numpy as np

from digitnet.nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, Sigmoid
from digitnet.nn.batchnorm import BatchNorm
from digitnet.nn.pooling import AvgPool2D


def test_summary_counts_the_classic_network():
    net = Sequential([Dense(16), Sigmoid(), Dense(16), Sigmoid(), Dense(10), Sigmoid()], cost="quadratic")
    assert net.n_params == 13_002
    text = net.summary()
    assert "13,002" in text and "(N, 16)" in text and "12,560" in text


def test_input_shapes_are_accepted_flexibly():
    net = Sequential([Dense(10)], rng=0)
    one = np.zeros(784, np.float32)
    assert net.predict(one).shape == (1,)
    assert net.predict(np.zeros((3, 28, 28))).shape == (3,)
    assert net.predict_proba(np.zeros((28, 28))).shape == (1, 10)


def test_training_backward_skips_only_the_unneeded_input_gradient():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 3, 32)
    net = Sequential([Dropout(0.0), Dense(16), ReLU(), Dense(3)], input_shape=(20,), rng=0)
    _, grad = net.cost.loss_and_gradient(net.forward(x), y)
    full = net.backward(grad.copy())
    expected = net.parameters.grads.copy()
    net.parameters.grads[...] = 0
    assert net.backward(grad.copy(), input_grad=False) is None
    np.testing.assert_array_equal(net.parameters.grads, expected)
    assert full.shape == x.shape


def test_backward_can_be_repeated_after_one_forward_pass():
    """Layers work in place to save memory; none may spend what its forward pass kept. Every layer with a
    cache (convolution, batch norm in training and inference, both poolings, dropout, dense) gives the same
    gradients when backward runs twice."""
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 1, 8, 8), dtype=np.float32), rng.integers(0, 3, 6)
    layers = [Conv2D(3, 3, padding=1), BatchNorm(), MaxPool2D(2), ReLU(), Conv2D(4, 3, padding=1)]
    layers += [BatchNorm(), AvgPool2D(2), Sigmoid(), Flatten(), Dropout(0.5), Dense(5), BatchNorm(), Dense(3)]
    net = Sequential(layers, input_shape=(1, 8, 8), rng=0)
    for training in (True, False):
        _, grad = net.cost.loss_and_gradient(net.forward(x, training=training, rng=rng), y)
        first = net.backward(grad.copy())
        first_params = net.parameters.grads.copy()
        second = net.backward(grad.copy())
        np.testing.assert_array_equal(second, first)
        np.testing.assert_array_equal(net.parameters.grads, first_params)


def test_layer_outputs_are_every_layers_output_and_end_with_forward():
    net = Sequential([Dense(8), ReLU(), Dropout(0.5), Dense(3)], input_shape=(4,), rng=0)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    outputs = net.layer_outputs(x)
    assert [o.shape for o in outputs] == [(5, 8), (5, 8), (5, 8), (5, 3)]
    np.testing.assert_array_equal(outputs[1], np.maximum(outputs[0], 0))
    np.testing.assert_array_equal(outputs[2], outputs[1])  # dropout is the identity at inference
    np.testing.assert_array_equal(outputs[-1], net.forward(x))
    assert len(net.layer_outputs(x[0], upto=2)) == 2  # one example is a batch of one


def test_only_a_network_with_convolutions_is_convolutional():
    cnn = Sequential([Conv2D(2, 3, padding="same"), ReLU(), Flatten(), Dense(10)], input_shape=(1, 28, 28))
    pooled = Sequential([MaxPool2D(2), Flatten(), Dense(10)], input_shape=(1, 28, 28))
    assert cnn.is_convolutional and cnn.inference_batch == 64
    assert not pooled.is_convolutional and not Sequential([Dense(10)]).is_convolutional
