"""Sequential: its summary, the inputs it takes, backward, and the layers' outputs it shows."""

import numpy as np
import pytest

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


def test_every_layer_takes_need_input_grad_and_a_model_without_weights_trains_a_step():
    """The contract: every layer's backward accepts need_input_grad; False returns None (nothing below
    learns). A network with nothing to learn runs train_step without a special case."""
    from digitnet.nn import LAYERS, Rescaling

    rng = np.random.default_rng(0)
    made = {
        "Conv2D": (Conv2D(2, 3), (1, 5, 5)),
        "MaxPool2D": (MaxPool2D(2), (1, 4, 4)),
        "AvgPool2D": (AvgPool2D(2), (1, 4, 4)),
        "BatchNorm": (BatchNorm(), (3,)),
        "Dropout": (Dropout(0.5), (3,)),
        "Rescaling": (Rescaling(2.0, 1.0), (3,)),
        "Dense": (Dense(2), (3,)),
    }
    for name, cls in LAYERS.items():
        layer, shape = made[name] if name in made else (cls(), (3,))
        layer.build(shape, rng)
        x = rng.standard_normal((4, *shape)).astype(np.float32)
        out = layer.forward(x, training=True, rng=rng)
        assert layer.backward(np.ones_like(out), need_input_grad=False) is None, name
        assert layer.backward(np.ones_like(out), need_input_grad=True).shape == x.shape, name
    plain = Sequential([Rescaling(2.0)], input_shape=(10,), rng=0)  # ten inputs are the ten classes' logits
    loss = plain.train_step(rng.standard_normal((5, 10)).astype(np.float32), np.arange(5))
    assert np.isfinite(loss) and plain.backward(np.ones((5, 10), np.float32), input_grad=False) is None


def test_as_input_takes_a_batch_one_example_or_images_in_any_layout_and_refuses_lucky_sizes():
    flat = Sequential([Dense(10)], input_shape=(784,), rng=0)
    cnn = Sequential([Conv2D(2, 3), Flatten(), Dense(10)], input_shape=(1, 28, 28), rng=0)
    images = np.zeros((3, 28, 28), np.float32)
    for model, shape in ((flat, (784,)), (cnn, (1, 28, 28))):
        for x in (images, images.reshape(3, 784), images.reshape(3, 1, 28, 28)):
            assert model.as_input(x).shape == (3, *shape)
        for one in (images[0], images[0].reshape(784), images[0].reshape(1, 28, 28)):
            assert model.as_input(one).shape == (1, *shape)
        for lucky in (np.zeros((2, 392)), np.zeros((4, 14, 14)), np.zeros((784,))[None, None, :]):
            with pytest.raises(ValueError, match=r"inputs of shape .* do not fit this model"):
                model.as_input(lucky)
    odd = Sequential([Dense(3)], input_shape=(20,), rng=0)  # not an image: its own shape only
    with pytest.raises(ValueError, match=r"takes \(N, 20\)$"):
        odd.as_input(np.zeros((4, 5)))
