"""The architecture check: each layer against the tensors the file declares, before anything is allocated."""

import re

import pytest
from modelfile_helpers import BUNDLED, load_measured, make_model, resaved

from digitnet.errors import ModelFileError
from digitnet.modelfile import load_model, save_model
from digitnet.nn import LAYERS, Dense, Sequential


@pytest.mark.parametrize(
    "units, reason",
    [
        (10**6, r"tensor layers\.0\.W has shape \(784, 100\).*layer 0 \(Dense\).*\(784, 1000000\)"),
        (10**12, r"layer 0 \(Dense\) units is 1000000000000, beyond digitnet's limit"),
    ],
)
def test_huge_layers_are_refused_at_once(tmp_path, units, reason):
    """A 330 kB file declaring Dense(10**6) used to cost 37 s and 9.3 GB before its error."""

    def edit(header):
        header["architecture"]["layers"][0]["units"] = units

    path = resaved(BUNDLED / "mlp.safetensors", tmp_path / "huge.safetensors", edit)
    message, seconds, peak = load_measured(path)
    assert re.search(reason, message) and message.startswith(str(path))
    assert peak < 2 * path.stat().st_size + 2**20  # the time: benchmarks/hostile_model_files.py


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda a: a.update(input_shape=[784, 0]), "input_shape must be a list of 1 to 8 integers from 1"),
        (lambda a: a.update(input_shape=["784"]), "input_shape must be a list"),
        (lambda a: a.update(cost="hinge"), "architecture.cost must be one of"),
        (lambda a: a.update(cost=["quadratic"]), "architecture.cost must be one of"),
        (lambda a: a.update(layers=[]), "architecture.layers must be a list of 1 to 1,000 layers"),
        (lambda a: a["layers"].__setitem__(1, {"type": "Exec"}), "layer 1 has type 'Exec'; known types are"),
        (lambda a: a["layers"].__setitem__(1, {"type": ["Tanh"]}), r"layer 1 has type \['Tanh'\]"),
        (
            lambda a: a["layers"][0].update(units="12"),
            r"layer 0 \(Dense\): Dense units must be a positive integer",
        ),
        (lambda a: a["layers"][0].update(init=["he"]), r"layer 0 \(Dense\) init is a JSON array"),
        (lambda a: a["layers"][0].update(init="zeros"), r"layer 0 \(Dense\): unknown initialiser 'zeros'"),
        (
            lambda a: a["layers"][0].update(bias=False),
            r"layer 0 \(Dense\) has unknown arguments 'bias'; it takes \['units', 'init'\]",
        ),
        (lambda a: a["layers"][2].update(rate=2.0), r"layer 2 \(Dropout\): dropout rate must be in"),
        (
            lambda a: a["layers"][3].update(units=13),
            r"tensor layers.3.W has shape \(12, 10\) in the file, but layer 3 \(Dense\)",
        ),
        (
            lambda a: a["layers"].insert(0, {"type": "Flatten"}),
            "the file lacks tensors 'layers.1.W', .* and holds",
        ),
        (lambda a: a["layers"].insert(1, {"type": "Dense", "units": 5}), r"layer 0|layers.1.W"),
        (
            lambda a: a["layers"].append({"type": "Conv2D", "filters": 2, "kernel_size": 3}),
            r"layer 5 \(Conv2D\) cannot follow",
        ),
        (
            lambda a: a["layers"].__setitem__(3, {"type": "Flatten"}),
            "file holds tensors 'layers.3.W', 'layers.3.b'",
        ),
        (lambda a: a.update(input_shape=[1, 28, 28]), r"layer 0 \(Dense\) cannot follow the layer before it"),
        (
            lambda a: a["layers"].insert(0, {"type": "Rescaling", "scale": 0.0}),
            r"layer 0 \(Rescaling\): Rescaling's scale must not be 0",
        ),
        (
            lambda a: a["layers"].insert(0, {"type": "Rescaling", "offset": "1"}),
            r"layer 0 \(Rescaling\): Rescaling's offset must be a finite number, got '1'",
        ),
    ],
)
def test_the_architecture_is_checked_before_anything_is_allocated(tmp_path, edit, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    resaved(path, path, lambda header: edit(header["architecture"]))
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


def test_state_shapes_agree_with_build_for_every_layer_type():
    """Layer.state_shapes is what the loader trusts; it must give exactly what build creates."""
    from digitnet.nn import (
        AvgPool2D,
        BatchNorm,
        Conv2D,
        Flatten,
        Identity,
        MaxPool2D,
        ReLU,
        Rescaling,
        Softmax,
    )

    models = [
        make_model(),
        Sequential(
            [
                Rescaling(3.2, -0.4),
                Conv2D(3, 5, stride=2, padding=1),
                BatchNorm(),
                ReLU(),
                MaxPool2D(2, stride=1),
                Conv2D(4, 3, padding="same"),
                AvgPool2D(3),
                Flatten(),
                BatchNorm(),
                Identity(),
                Dense(10),
                Softmax(),
            ],
            cost="quadratic",
            input_shape=(2, 13, 11),
        ),
    ]
    covered = set()
    for model in models:
        shape = model.input_shape
        for layer in model.layers:
            shape, own = layer.state_shapes(shape)
            built = {k: v.shape for k, v in {**layer.params, **layer.buffers}.items()}
            assert shape == layer.output_shape and own == built, layer
            covered.add(type(layer).__name__)
    assert covered == set(LAYERS)
