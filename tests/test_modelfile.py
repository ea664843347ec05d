"""Model files: round trip, and a clear error for every kind of bad file; nothing saved is ever half-written.

A crafted file (edited, with its checksum recomputed as anyone can) is refused before it allocates
anything, whatever field it breaks; tests/test_modelfile_fuzz.py tries many more at random.
"""

import json
import math
import re
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import digitnet.models
from digitnet.errors import ModelFileError
from digitnet.modelfile import content_digest, load_model, save_model
from digitnet.nn import LAYERS, Dense, Dropout, Sequential, Sigmoid, Tanh


def make_model(seed=0):
    return Sequential([Dense(12), Tanh(), Dropout(0.3), Dense(10), Sigmoid()], cost="quadratic", rng=seed)


def read_header(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return data, n, json.loads(data[8 : 8 + n])


def test_round_trip_gives_identical_predictions_and_records(tmp_path):
    model = make_model()
    x = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    path = save_model(
        tmp_path / "m.safetensors",
        model,
        training={"epochs": 3},
        metrics={"test_accuracy": 0.97},
        history={"epochs": [{"epoch": 1, "loss": 0.5}]},
    )
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.model.predict_proba(x), model.predict_proba(x))
    assert loaded.model.config() == model.config()
    assert loaded.training == {"epochs": 3} and loaded.metrics == {"test_accuracy": 0.97}
    assert loaded.history["epochs"][0]["loss"] == 0.5
    assert loaded.digitnet_version


def test_no_temporary_files_are_left_and_overwrite_is_atomic(tmp_path, monkeypatch):
    path = save_model(tmp_path / "m.safetensors", make_model(seed=0))
    before = path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("digitnet.atomic.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, make_model(seed=1))
    assert path.read_bytes() == before  # the old model survives a failed save
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file.*digitnet train"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="is a folder, not a model file.*model.safetensors"):
        load_model(tmp_path)


@pytest.mark.parametrize("keep", [4, 100, -10])
def test_truncated_file(tmp_path, keep):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep > 0 else data[:keep])
    with pytest.raises(ModelFileError, match="m.safetensors"):
        load_model(path)


def test_foreign_files(tmp_path):
    png = tmp_path / "digit.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(ModelFileError, match="digit.png.*not a readable model file"):
        load_model(png)
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3, np.float32)}, other)
    with pytest.raises(ModelFileError, match="not a digitnet model"):
        load_model(other)


def test_tampered_weights_are_detected(tmp_path):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last weight
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_tampered_architecture_is_detected(tmp_path):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data, n, header = read_header(path)
    text = header["__metadata__"]["digitnet"].replace('"Tanh"', '"ReLU"')
    header["__metadata__"]["digitnet"] = text
    blob = json.dumps(header).encode()
    blob += b" " * (n - len(blob)) if len(blob) <= n else b""
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data[8 + n :])
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(path)


def test_newer_format_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("digitnet.modelfile.FORMAT_VERSION", 99)
    path = save_model(tmp_path / "m.safetensors", make_model())
    monkeypatch.setattr("digitnet.modelfile.FORMAT_VERSION", 1)
    with pytest.raises(ModelFileError, match="newer.*upgrade digitnet"):
        load_model(path)


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = save_model(tmp_path / "m.safetensors", make_model())
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644  # not the temporary file's private 0600


def test_convolutional_model_round_trip_keeps_batchnorm_statistics(tmp_path):
    from digitnet.config import TrainConfig
    from digitnet.runs import build_model

    model = build_model(TrainConfig(conv=((4,), (8,)), kernel_size=3, batch_norm=True, hidden=(16,)))
    x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    for _ in range(3):  # training-mode passes move the running statistics away from 0 and 1
        model.forward(model.as_input(x), training=True)
    state = model.named_buffers()
    assert state and all(not np.allclose(v, 0) and not np.allclose(v, 1) for v in state.values())
    loaded = load_model(save_model(tmp_path / "cnn.safetensors", model)).model
    for name, value in state.items():
        np.testing.assert_array_equal(loaded.named_buffers()[name], value)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


# --- crafted files: refused before they cost anything ------------------------------------------------

BUNDLED = Path(digitnet.models.__file__).parent


def resaved(source, target, edit_header=None, edit_tensors=None):
    """``source`` with its digitnet header and tensors edited and the checksum recomputed, as anyone can."""
    tensors = safetensors.numpy.load_file(source)
    with safetensors.safe_open(source, "numpy") as f:
        header = json.loads(f.metadata()["digitnet"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        edit_header(header)
    header["sha256"] = content_digest(header, tensors)
    target.write_bytes(safetensors.numpy.save(tensors, metadata={"digitnet": json.dumps(header)}))
    return target


def load_measured(path):
    """load_model(path) -> (the ModelFileError's message, seconds, peak bytes allocated)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as info:
            load_model(path)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return str(info.value), seconds, peak


@pytest.mark.parametrize("name", ["default", "lenet5"])
def test_bundled_models_load(name):
    loaded = load_model(BUNDLED / f"{name}.safetensors")
    assert loaded.metrics["test_accuracy"] > 0.97 and loaded.history["epochs"]


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

    path = resaved(BUNDLED / "default.safetensors", tmp_path / "huge.safetensors", edit)
    message, seconds, peak = load_measured(path)
    assert re.search(reason, message) and message.startswith(str(path))
    assert peak < 2 * path.stat().st_size + 2**20  # the time: benchmarks/hostile_model_files.py


@pytest.mark.parametrize("where", ["safetensors", "digitnet"])
def test_deep_nesting_is_refused_without_recursion(tmp_path, where):
    nested = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.safetensors"
    if where == "safetensors":
        blob = ('{"__metadata__": {"digitnet": "{}"}, "x": ' + nested + "}").encode()
        path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    else:
        path.write_bytes(
            safetensors.numpy.save({"w": np.zeros(3, np.float32)}, metadata={"digitnet": nested})
        )
    message, seconds, _ = load_measured(path)
    assert re.search(r"JSON nested 100,00\d deep; at most 32", message)


@pytest.mark.parametrize(
    "version, reason",
    [
        ("1", "'1' is not a valid format version"),
        (True, "True is not a valid format version"),
        (0, "0 is not a valid format version"),
        (1.0, "1.0 is not a valid format version"),
        (None, "None is not a valid format version"),
        (2, "format version 2 is newer.*upgrade digitnet"),
    ],
)
def test_format_version_must_be_a_known_integer(tmp_path, version, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    resaved(path, path, lambda header: header.update(format_version=version))
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


# fmt: off
WRONG_FIELDS = [
    ("history", [1, 2], "history must be a JSON object, got a list"),
    ("history", {"epochs": {"1": 0.5}}, "history.epochs must be a list"),
    ("history", {"epochs": [{"epoch": 1, "loss": "low"}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"epoch": 1, "loss": None}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"epoch": 1, "loss": math.nan}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"loss": 0.5}]}, r"history.epochs\[0\].epoch must be the epoch's number"),
    ("history", {"epochs": [{"epoch": 1, "loss": 1}, {"epoch": 2}]}, r"history.epochs\[1\] records other"),
    ("history", {"best_epoch": "3"}, "history.best_epoch must be an epoch number"),
    ("history", {"stopped_early": 0}, "history.stopped_early must be true or false"),
    ("metrics", "0.97", "metrics must be a JSON object, got a string"),
    ("metrics", {"test_accuracy": "97%"}, "metrics.test_accuracy must be a finite number"),
    ("metrics", {"test_accuracy": math.nan}, "metrics.test_accuracy must be a finite number"),
    ("metrics", {"architecture": {"layers": []}}, "metrics.architecture must be a string"),
    ("metrics", {"note": [1, 2]}, "metrics.note must be a finite number, a string, true/false or null"),
    ("training", [100], "training must be a JSON object, got a list"),
    ("training", {"hidden": [[1]]},
     r"training.hidden is \[\[1\]\], but the setting takes a list of integers"),
    ("training", {"hidden": 100}, "training.hidden is 100, but the setting takes a list of integers"),
    ("training", {"lr": "fast"}, "training.lr is 'fast', but the setting takes a number"),
    ("training", {"lr": math.inf}, "training.lr is inf, but the setting takes a number"),
    ("training", {"conv": [6, 16]}, "training.conv .* takes a list of lists of integers"),
    ("training", {"init": 3}, "training.init is 3, but the setting takes a string or null"),
    ("training", {"extra": {"a": 1}}, "training.extra must be a finite number, a string"),
    ("digitnet_version", 1, "digitnet_version must be a string"),
    ("created", None, "created must be a string"),
    ("architecture", [], "the architecture is a JSON array, not an object"),
    ("architecture", {"input_shape": [784], "cost": "cross-entropy"},
     "must hold exactly input_shape, cost and layers"),
]
# fmt: on


@pytest.mark.parametrize("field, value, reason", WRONG_FIELDS)
def test_every_field_is_checked_for_type(tmp_path, field, value, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    resaved(path, path, lambda header: header.update({field: value}))
    with pytest.raises(ModelFileError, match=reason) as info:
        load_model(path)
    assert str(info.value).startswith(str(path)) and "retrain" in str(info.value)


def mlp_architecture():
    return make_model().config()


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
    ],
)
def test_the_architecture_is_checked_before_anything_is_allocated(tmp_path, edit, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    resaved(path, path, lambda header: edit(header["architecture"]))
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


def test_non_finite_weights_are_refused(tmp_path):
    path = save_model(tmp_path / "m.safetensors", make_model())

    def poison(tensors):
        tensors["layers.3.b"][4] = np.nan

    resaved(path, path, edit_tensors=poison)
    with pytest.raises(ModelFileError, match=r"tensor layers.3.b holds NaN or infinite weights"):
        load_model(path)


def test_negative_batch_norm_variances_are_refused(tmp_path):
    from digitnet.nn import BatchNorm, Dense, ReLU

    model = Sequential([Dense(5), BatchNorm(), ReLU(), Dense(3)], input_shape=(4,), rng=0)
    path = save_model(tmp_path / "m.safetensors", model)

    def poison(tensors):
        tensors["layers.1.running_var"][2] = -0.5  # sqrt(var + eps) of a negative: NaN predictions

    resaved(path, path, edit_tensors=poison)
    with pytest.raises(ModelFileError, match=r"tensor layers.1.running_var holds negative variances"):
        load_model(path)


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h["layers.0.W"].update(dtype="F64"), "has dtype 'F64'; digitnet writes only F32"),
        (lambda h: h["layers.0.W"].update(shape=[784, -12]), "is not a list of at most 8 integers >= 0"),
        (
            lambda h: h["layers.0.W"].update(shape=[10**12, 10**12]),
            "needs 4,000,000,000,000,000,000,000,000 bytes",
        ),
        (
            lambda h: h["layers.0.W"].update(data_offsets=[0, 4 * 10**12]),
            "data_offsets span 4,000,000,000,000",
        ),
        (lambda h: h["layers.0.b"].update(data_offsets=[8, 56]), "overlaps the tensor stored before it"),
        (
            lambda h: h.update(extra={"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}),
            "overlaps",
        ),
        (lambda h: h["__metadata__"].update(digitnet=7), "__metadata__.*must map names to strings"),
    ],
)
def test_the_tensor_table_is_checked_against_the_file(tmp_path, edit, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data, n, header = read_header(path)
    edit(header)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data[8 + n :])
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**40, 10**8, 1])
def test_header_length_is_bounded_by_the_file(tmp_path, length):
    path = save_model(tmp_path / "m.safetensors", make_model())
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", length) + data[8:])
    with pytest.raises(ModelFileError, match="the header length field says"):
        load_model(path)


def test_state_shapes_agree_with_build_for_every_layer_type():
    """Layer.state_shapes is what the loader trusts; it must give exactly what build creates."""
    from digitnet.nn import AvgPool2D, BatchNorm, Conv2D, Flatten, Identity, MaxPool2D, ReLU, Softmax

    models = [
        make_model(),
        Sequential(
            [
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


@pytest.mark.parametrize(
    "metrics, reason",
    [
        ({"test_accuracy": 5.0}, r"metrics.test_accuracy must be a share from 0 to 1, got 5.0"),
        ({"val_accuracy": -1e300}, r"metrics.val_accuracy must be a share from 0 to 1"),
        ({"train_seconds": -3}, r"metrics.train_seconds must be >= 0, got -3"),
        ({"test_accuracy": 10**400}, r"metrics.test_accuracy must be a finite number"),
    ],
)
def test_recorded_scores_must_be_in_range(tmp_path, metrics, reason):
    path = save_model(tmp_path / "m.safetensors", make_model(), metrics=metrics)
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)
