"""The network the drawing page shows: which neurons are drawn and which links run into them."""

import numpy as np
import pytest

from digitnet.nn import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Rescaling,
    Sequential,
    Sigmoid,
)
from digitnet.nn.inspect import LINKS, SHOWN, Link, drawn_network, first_hidden_layer, reads_flat_pixels


def drawn(model, x):
    return drawn_network(model, model.layer_outputs(x), x)


def pixels(*ink):
    """One digit (1, 784) with ink 1 on the pixels ``ink``."""
    x = np.zeros((1, 784), np.float32)
    x[0, list(ink)] = 1
    return x


def zeroed(model):
    for layer in model.layers:
        for p in layer.params.values():
            p[:] = 0
    return model


def test_a_small_network_draws_every_neuron_and_its_positive_contributions():
    model = zeroed(Sequential([Dense(3), ReLU(), Dense(10)], rng=0))  # logits out
    w1, w2 = model.layers[0].params["W"], model.layers[2].params["W"]
    w1[0, 0], w1[1, 0], w1[2, 1], w1[3, 2] = 1, 2, 1, -1  # a = relu([1 + 2, 1, -1]) = [3, 1, 0]
    w2[0, 5], w2[1, 5], w2[2, 5], w2[0, 7] = 1, 4, 9, -1  # into class 5: 3·1, 1·4, 0·9; into 7: 3·(-1)
    network, connections, activations = drawn(model, pixels(0, 1, 2, 3))
    assert [c["size"] for c in network] == [784, 3, 10]
    assert network[1]["shown"].tolist() == [0, 1, 2] and network[2]["shown"].tolist() == list(range(10))
    assert all(isinstance(link, Link) for link in connections)
    # only contributions above 0: neuron 2 (pushed down by pixel 3, then inactive) sends and gets nothing
    assert sorted(connections) == [
        (0, 0, 1, 0, 1.0),
        (0, 1, 1, 0, 2.0),
        (0, 2, 1, 1, 1.0),
        (1, 0, 2, 5, 3.0),
        (1, 1, 2, 5, 4.0),
    ]
    assert [(a["index"], a.get("column", False)) for a in activations] == [(0, False), (1, True), (2, False)]
    np.testing.assert_array_equal(activations[1]["values"], [3, 1, 0])


def test_a_wide_layer_shows_its_most_active_neurons_and_their_strongest_links():
    width = SHOWN + 24
    model = zeroed(
        Sequential([Dense(width), ReLU(), Dropout(0.5), Dense(10), Sigmoid()], cost="quadratic", rng=0)
    )
    model.layers[0].params["b"][:] = np.arange(width)  # a_j = j, whatever the digit
    model.layers[3].params["W"][:, 4] = 1  # into class 4: c_j4 = j
    network, connections, activations = drawn(model, pixels(100))
    assert network[1]["shown"].tolist() == list(range(width - SHOWN, width))  # the most active, in order
    assert network[2]["shown"].tolist() == list(range(10))  # the classes: all of them
    into_four = sorted(link.source for link in connections if link.target_column == 2 and link.target == 4)
    assert into_four == list(range(width - LINKS, width))
    assert not [link for link in connections if link.source_column == 0]  # no pixel reaches a neuron
    assert [a["index"] for a in activations] == [0, 1, 3, 4]  # dropout changes nothing, so is left out
    assert [a.get("column", False) for a in activations] == [False, True, False, True]


def test_an_input_transform_is_no_column_of_neurons():
    """An imported network's Rescaling (its own pixel scale) leaves every pixel drawn, its links scaled."""
    model = zeroed(Sequential([Rescaling(255.0), Dense(3), ReLU(), Dense(10)], rng=0))
    model.layers[1].params["W"][0, 0] = 1  # pixel 0 at full ink is 255 to this layer
    network, connections, activations = drawn(model, pixels(0))
    assert [c["size"] for c in network] == [784, 3, 10]
    assert "shown" not in network[0]  # the input: every pixel, as without the transform
    assert (0, 0, 1, 0, 255.0) in connections
    assert [a["index"] for a in activations] == [1, 2, 3]


def test_a_convolutional_network_draws_channel_means_and_no_links_from_the_image():
    model = Sequential(
        [Conv2D(2, 3), ReLU(), AvgPool2D(), Flatten(), Dense(5), ReLU(), Dense(10)],
        input_shape=(1, 28, 28),
        rng=0,
    )
    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    network, connections, activations = drawn(model, x)
    assert [c["size"] for c in network] == [784, 5, 10]
    assert connections and min(link.source_column for link in connections) == 1
    assert [a["index"] for a in activations] == [0, 1, 2, 4, 5, 6]  # Flatten changes no value
    maps = model.layer_outputs(x, upto=1)[0]  # (1, 2, 26, 26)
    assert activations[0]["shape"] == [2, 26, 26]
    np.testing.assert_allclose(activations[0]["values"], maps[0].mean(axis=(1, 2)))


def test_a_network_that_pools_images_without_convolution_draws_no_links_from_the_image():
    model = Sequential([MaxPool2D(), Flatten(), Dense(6), ReLU(), Dense(10)], input_shape=(1, 28, 28), rng=0)
    assert not model.is_convolutional and not reads_flat_pixels(model)
    assert first_hidden_layer(model) is None  # its first dense layer reads 196 pooled values, not pixels
    network, connections, _ = drawn(model, np.ones((1, 784), np.float32))
    assert [c["size"] for c in network] == [784, 6, 10]
    assert all(link.source_column >= 1 for link in connections)


@pytest.mark.parametrize("flat", [True, False])
def test_reads_flat_pixels_is_about_the_input_shape(flat):
    shape = (784,) if flat else (1, 28, 28)
    layers = [Dense(4), ReLU(), Dense(10)] if flat else [Flatten(), Dense(4), ReLU(), Dense(10)]
    assert reads_flat_pixels(Sequential(layers, input_shape=shape, rng=0)) is flat


@pytest.mark.parametrize("convolutional", [False, True])
def test_the_report_figure_draws_exactly_the_chosen_neurons_and_links(convolutional):
    from digitnet.plots import plt
    from digitnet.report.figures import network_figure

    if convolutional:
        layers = [Conv2D(2, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(20), ReLU(), Dense(10)]
        model = Sequential(layers, input_shape=(1, 28, 28), rng=0)
    else:
        model = Sequential([Dense(30), ReLU(), Dense(20), Sigmoid(), Dense(10)], rng=0)
    x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    network, connections, activations = drawn(model, x)
    fig = network_figure(x[0], network, connections, activations, model.predict_proba(x)[0])
    ax = fig.axes[0]
    assert len(ax.lines) == len(connections) > 0  # one line per link
    dots = [len(c.get_offsets()) for c in ax.collections]  # one scatter per column after the input
    assert dots == [len(c["shown"]) for c in network[1:]]
    assert any("not drawn" in t.get_text() for t in ax.texts) == convolutional
    plt.close(fig)
