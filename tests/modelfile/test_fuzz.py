"""Fuzzing the model-file loader: whatever the bytes, a loaded model or a ModelFileError, in bounded memory.

Every example mutates a copy of a small real model file saved by ``save_model`` (an MLP with batch
normalisation and dropout, and a CNN with every other layer type): bit flips, truncation, edits of the
safetensors header (huge shapes and offsets, wrong types, a bad length field), edits of digitnet's header
with the checksum recomputed as an attacker would (every field, to every kind of JSON value), deep nesting
and NaN weights. The outcome must be a model or a ModelFileError whose message names the file, never any
other exception; tracemalloc (which NumPy reports its arrays to) must see at most 20 times the file's size
plus 5 MB allocated during the load. A file that loads must also get through ``digitnet info`` and the
reading of its settings by ``digitnet train --config``.
"""

import contextlib
import io
import json
import math
import tracemalloc

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.cli.main import main
from digitnet.cli.train import recorded_config
from digitnet.errors import ModelFileError
from digitnet.modelfile import content_digest, load_model, save_model
from digitnet.nn import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from digitnet.training.config import TrainConfig

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE = [10**6, 10**12, 2**31, 2**32 + 1, 2**63, 2**64 + 7, 10**30, -1, -(2**63), 0]

# Any JSON value, with the numbers that hurt: huge, negative, zero, NaN, infinities.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from(HUGE)
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def make_mlp():
    return Sequential(
        [Dense(12), Tanh(), Dropout(0.3), BatchNorm(), Dense(10), Sigmoid()],
        cost="quadratic",
        input_shape=(20,),
        rng=0,
    )


def make_cnn():
    layers = [
        Conv2D(3, 3, padding="same"),
        BatchNorm(),
        ReLU(),
        MaxPool2D(2),
        Conv2D(4, 3, padding=1),
        Identity(),
        AvgPool2D(2, stride=1),
        Flatten(),
        Dense(10),
        Softmax(),
    ]
    return Sequential(layers, cost="quadratic", input_shape=(1, 8, 8), rng=1)


def records(model):
    """What ``digitnet train`` keeps beside the weights: settings, a 3-epoch history, scores."""
    epochs = [
        {
            "epoch": e,
            "loss": 1.0 / e,
            "accuracy": 0.8 + e / 100,
            "lr": 1e-3,
            "seconds": 0.5,
            "val_loss": 1.1 / e,
            "val_accuracy": 0.79 + e / 100,
        }
        for e in (1, 2, 3)
    ]
    return {
        "training": TrainConfig(conv=((3,),), batch_norm=True).to_dict(),
        "history": {"epochs": epochs, "best_epoch": 3, "stopped_early": False},
        "metrics": {
            "preset": "fuzz",
            "architecture": "small",
            "parameters": model.n_params,
            "epochs_trained": 3,
            "train_examples": 100,
            "train_seconds": 1.5,
            "train_loss": 0.3,
            "train_accuracy": 0.83,
            "test_loss": 0.4,
            "test_accuracy": 0.82,
        },
    }


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of the two real model files, by name."""
    folder = tmp_path_factory.mktemp("originals")
    files = {}
    for name, make in (("mlp", make_mlp), ("cnn", make_cnn)):
        model = make()
        x = np.random.default_rng(0).random((16, *model.input_shape), dtype=np.float32)
        model.forward(x, training=True, rng=np.random.default_rng(0))  # running statistics off 0 and 1
        files[name] = save_model(folder / f"{name}.safetensors", model, **records(model)).read_bytes()
    return files


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The file each example writes its mutated bytes to."""
    return tmp_path_factory.mktemp("fuzz") / "model.safetensors"


def outcome(path, content: bytes) -> str:
    """Write ``content`` to ``path`` and load it: "loaded", or the ModelFileError's message.

    Any other exception fails the test, as does a load that allocates more than 20 times the file's
    size plus 5 MB.
    """
    path.write_bytes(content)
    tracemalloc.start()
    try:
        load_model(path)
        result = "loaded"
    except ModelFileError as exc:
        result = str(exc)
        assert result.startswith(f"{path}: ") and len(result) > len(str(path)) + 20, result
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= 20 * len(content) + 5 * 2**20, f"{peak:,} bytes allocated for a {len(content):,}-byte file"
    return result


def split(content: bytes) -> tuple[dict, bytes]:
    """The safetensors header as a dict, and the bytes after it."""
    n = int.from_bytes(content[:8], "little")
    return json.loads(content[8 : 8 + n]), content[8 + n :]


def join(header, body: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return len(blob).to_bytes(8, "little") + blob + body


def resaved(content: bytes, edit_header=None, edit_tensors=None) -> bytes:
    """``content`` with its digitnet header and tensors edited and the checksum recomputed, as anyone can."""
    tensors = safetensors.numpy.load(content)
    header = json.loads(split(content)[0]["__metadata__"]["digitnet"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        edit_header(header)
    header["sha256"] = content_digest(header, tensors)
    return safetensors.numpy.save(tensors, metadata={"digitnet": json.dumps(header)})


def paths_in(value, prefix=()):
    """Every path of keys and indices into a parsed JSON value, the value's own () included."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths_in(child, (*prefix, key))


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


NAMES = st.sampled_from(["mlp", "cnn"])


# --- whole-file damage -----------------------------------------------------------------------------


@FUZZ
@given(name=NAMES, flips=st.lists(st.integers(0, 2**40), min_size=1, max_size=8), in_header=st.booleans())
def test_bit_flips(originals, target, name, flips, in_header):
    content = bytearray(originals[name])
    span = 8 + int.from_bytes(content[:8], "little") if in_header else len(content)
    for bit in flips:
        content[(bit // 8) % span] ^= 1 << (bit % 8)
    outcome(target, bytes(content))


@FUZZ
@given(name=NAMES, keep=st.floats(0, 1, exclude_max=True))
def test_truncation(originals, target, name, keep):
    content = originals[name]
    assert outcome(target, content[: int(len(content) * keep)]) != "loaded"


# --- the safetensors header ------------------------------------------------------------------------


@FUZZ
@given(name=NAMES, length=st.sampled_from(HUGE[:6]) | st.integers(0, 2**64 - 1))
def test_any_header_length(originals, target, name, length):
    content = originals[name]
    result = outcome(target, (length % 2**64).to_bytes(8, "little") + content[8:])
    assert result == "loaded" or "model file" in result


@FUZZ
@given(name=NAMES, data=st.data())
def test_tensor_entries_with_huge_or_wrong_values(originals, target, name, data):
    header, body = split(originals[name])
    tensor = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", None]))
    if field is None:
        header[tensor] = data.draw(JSON_VALUES)
    else:
        header[tensor][field] = data.draw(
            JSON_VALUES | st.lists(st.sampled_from(HUGE) | st.integers(0, 2**64), min_size=1, max_size=4)
        )
    outcome(target, join(header, body))


@FUZZ
@given(name=NAMES, data=st.data())
def test_safetensors_metadata_of_any_kind(originals, target, name, data):
    header, body = split(originals[name])
    if data.draw(st.booleans()):
        header["__metadata__"] = data.draw(JSON_VALUES)
    else:
        header["__metadata__"]["digitnet"] = data.draw(st.text(max_size=40) | JSON_VALUES.map(json.dumps))
    assert outcome(target, join(header, body)) != "loaded"


@settings(FUZZ, max_examples=40)
@given(name=NAMES, depth=st.integers(30, 200_000), where=st.sampled_from(["outer", "digitnet", "metrics"]))
def test_deep_nesting(originals, target, name, depth, where):
    content = originals[name]
    if where == "outer":
        header, body = split(content)
        blob = json.dumps(header)[:-1] + f', "x": {deep(depth)}}}'
        content = len(blob).to_bytes(8, "little") + blob.encode() + body
    elif where == "digitnet":
        header, body = split(content)
        header["__metadata__"]["digitnet"] = deep(depth)
        content = join(header, body)
    else:
        nested = deep(depth)
        text = json.loads(split(content)[0]["__metadata__"]["digitnet"])
        text["metrics"]["test_accuracy"] = "PLACEHOLDER"
        tensors = safetensors.numpy.load(content)
        raw = json.dumps(text).replace('"PLACEHOLDER"', nested)  # no checksum: it could not even be computed
        content = safetensors.numpy.save(tensors, metadata={"digitnet": raw})
    result = outcome(target, content)
    assert result != "loaded"
    assert ("deep" in result) if depth > 32 else True


# --- digitnet's header, with the checksum recomputed -------------------------------------------------


@settings(FUZZ, max_examples=200)
@given(name=NAMES, data=st.data())
def test_any_field_set_to_anything(originals, target, name, data):
    content = originals[name]
    header = json.loads(split(content)[0]["__metadata__"]["digitnet"])
    paths = [p for p in paths_in(header) if p and p[0] != "sha256"]
    where = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["replace", "delete", "huge"]))
    value = data.draw(JSON_VALUES) if action == "replace" else data.draw(st.sampled_from(HUGE))

    def edit(h):
        parent = h
        for key in where[:-1]:
            parent = parent[key]
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = value

    result = outcome(target, resaved(content, edit_header=edit))
    if result == "loaded":  # then everything that reads the records must cope with them
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["info", str(target)]) == 0
            assert main(["info", "--json", str(target)]) == 0
        with contextlib.suppress(ValueError):  # `digitnet train --config` prints these as messages
            recorded_config(str(target))
    sizes = ("units", "filters", "kernel_size", "input_shape")
    if where[0] == "architecture" and set(where) & set(sizes) and action == "huge" and abs(value) >= 10**6:
        assert result != "loaded"  # no such layer fits the tensors the file holds


@FUZZ
@given(name=NAMES, data=st.data())
def test_hostile_layer_sizes_are_refused_quickly(originals, target, name, data):
    content = originals[name]
    header = json.loads(split(content)[0]["__metadata__"]["digitnet"])
    sized = [
        (i, k)
        for i, spec in enumerate(header["architecture"]["layers"])
        for k in ("units", "filters", "kernel_size", "stride", "padding", "pool_size")
        if k in spec
    ]
    i, key = data.draw(st.sampled_from(sized))
    value = data.draw(st.sampled_from(HUGE) | st.integers(2, 10**7))

    def edit(h):
        h["architecture"]["layers"][i][key] = value

    result = outcome(target, resaved(content, edit_header=edit))
    assert result == "loaded" or f"layer {i}" in result or "tensor" in result


@FUZZ
@given(name=NAMES, data=st.data(), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_weights_are_refused_by_name(originals, target, name, data, bad):
    content = originals[name]
    tensors = safetensors.numpy.load(content)
    tensor = data.draw(st.sampled_from(sorted(tensors)))
    index = data.draw(st.integers(0, tensors[tensor].size - 1))

    def edit(ts):
        ts[tensor].reshape(-1)[index] = bad

    result = outcome(target, resaved(content, edit_tensors=edit))
    assert f"tensor {tensor} holds NaN or infinite" in result
