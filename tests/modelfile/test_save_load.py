"""Model files as a whole: round trips, atomic saving, format versions, checksums and the weights' values."""

import json
import struct

import numpy as np
import pytest
import safetensors.numpy
from modelfile_helpers import BUNDLED, make_model, read_header, resaved

from digitnet.errors import ModelFileError
from digitnet.modelfile import load_model, save_model
from digitnet.nn import Sequential


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
    monkeypatch.setattr("digitnet.modelfile.model_file.FORMAT_VERSION", 99)
    path = save_model(tmp_path / "m.safetensors", make_model())
    monkeypatch.setattr("digitnet.modelfile.model_file.FORMAT_VERSION", 1)
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
    from digitnet.training.config import TrainConfig
    from digitnet.training.runs import build_model

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


@pytest.mark.parametrize("name", ["cnn", "mlp", "lenet5"])
def test_bundled_models_load(name):
    loaded = load_model(BUNDLED / f"{name}.safetensors")
    assert loaded.metrics["test_accuracy"] > 0.97 and loaded.history["epochs"]


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
