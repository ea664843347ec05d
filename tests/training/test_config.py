"""TrainConfig: every bad value refused by name, the edges of the good ones accepted, the architecture
string, and the dict round trip a model file relies on. No training: each test takes milliseconds."""

import dataclasses
import json
import math

import numpy as np
import pytest

from digitnet.nn import ACTIVATIONS, COSTS, INITIALIZERS, OPTIMIZERS, SCHEDULES
from digitnet.training.config import TrainConfig

# --- validation ----------------------------------------------------------------------------------------

BAD_VALUES = [
    # (setting, bad value, words the message must hold besides the value; the setting name if None)
    ("activation", "nope", None),
    ("activation", "softmax", None),  # an output activation, not one for hidden layers
    ("cost", "hinge", None),
    ("optimizer", "rmsprop", None),
    ("schedule", "linear", None),
    ("init", "zeros", "unknown init"),
    ("output_activation", "nope", "unknown output_activation"),
    ("augment", "sideways", None),
    ("hidden", (0,), None),
    ("hidden", (16, -1), None),
    ("conv", ((6,),) * 5, None),  # five 2x2 poolings do not fit in 28x28
    ("conv", ((),), None),
    ("conv", ((6,), (0,)), None),
    ("kernel_size", 4, None),
    ("kernel_size", 0, None),
    ("kernel_size", 3.0, None),
    ("workers", 0, None),
    ("workers", 65, None),
    ("workers", True, None),
    ("lr", 0.0, None),
    ("lr", -1e-3, None),
    ("lr", math.nan, None),
    ("lr", math.inf, None),
    ("batch_size", 0, None),
    ("batch_size", 2.5, None),
    ("epochs", 0, None),
    ("epochs", True, None),
    ("seed", -1, None),
    ("seed", 1.5, None),
    ("seed", True, None),
    ("momentum", -0.1, None),
    ("momentum", 1.0, None),
    ("l2", -1e-4, None),
    ("l2", math.inf, None),
    ("l2", math.nan, None),
    ("dropout", 1.0, None),
    ("dropout", -0.1, None),
    ("input_dropout", 1.0, None),
    ("validation_size", -1, None),
    ("validation_size", 60_000, None),
    ("validation_size", 0.5, None),
    ("train_size", 0, None),
    ("train_size", 1.5, None),
    ("patience", 0, None),
]


def as_shown(value) -> str:
    """``value`` as the messages write it: names quoted, layer sizes as lists (``[[6], [16]]`` for conv)."""

    def lists(v):
        return [lists(x) for x in v] if isinstance(v, tuple) else v

    return repr(lists(value))


@pytest.mark.parametrize(
    "name, value, words", BAD_VALUES, ids=lambda v: repr(v) if not isinstance(v, str) else v
)
def test_each_bad_value_is_refused_naming_the_setting_and_the_value(name, value, words):
    with pytest.raises(ValueError) as info:
        TrainConfig(**{name: value})
    message = str(info.value)
    assert (words or name) in message, message
    assert as_shown(value) in message, message


@pytest.mark.parametrize(
    "name, value, table",
    [
        ("activation", "nope", ("sigmoid", "tanh", "relu")),
        ("cost", "nope", COSTS),
        ("optimizer", "nope", OPTIMIZERS),
        ("schedule", "nope", SCHEDULES),
        ("init", "nope", INITIALIZERS),
        ("output_activation", "nope", ACTIVATIONS),
    ],
)
def test_an_unknown_name_lists_the_allowed_ones(name, value, table):
    with pytest.raises(ValueError) as info:
        TrainConfig(**{name: value})
    assert all(allowed in str(info.value) for allowed in table), str(info.value)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"nesterov": True, "optimizer": "sgd", "momentum": 0.0}, "Nesterov"),
        ({"nesterov": True, "optimizer": "adam", "momentum": 0.9}, "Nesterov"),
        ({"patience": 3, "validation_size": 0}, "patience"),
    ],
    ids=["nesterov-without-momentum", "nesterov-with-adam", "patience-without-validation"],
)
def test_settings_that_only_conflict_together_are_refused(changes, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"hidden": ()},  # no hidden layer: softmax regression
        {"hidden": (800, 800, 800)},
        {"activation": "sigmoid", "cost": "quadratic", "optimizer": "sgd", "lr": 3.0},
        {"optimizer": "sgd", "momentum": 0.99, "nesterov": True},
        {"conv": ((6,), (16,), (32,), (64,)), "kernel_size": 3},  # four stages: 28 -> 14 -> 7 -> 3 -> 1
        {"conv": ((32, 32), (64,)), "kernel_size": 1, "batch_norm": True},
        {"augment": "affine"},
        {"augment": "elastic"},
        {"workers": 1},
        {"workers": 64},
        {"lr": 1e-9, "batch_size": 1, "epochs": 1},
        {"l2": 0.0, "dropout": 0.0, "input_dropout": 0.0, "momentum": 0.0},
        {"dropout": 0.99, "input_dropout": 0.5},
        {"validation_size": 0},
        {"validation_size": 59_999, "train_size": 1},
        {"patience": 1},
        {"seed": 0},
        {"seed": 2**40},
        {"oversample": True, "class_weighted": True},
    ],
    ids=repr,
)
def test_good_values_are_accepted_and_kept(changes):
    config = TrainConfig(**changes)
    for name, value in changes.items():
        assert getattr(config, name) == value
    assert config.validate() is None


@pytest.mark.parametrize(
    "table, name",
    [
        (COSTS, "cost"),
        (OPTIMIZERS, "optimizer"),
        (SCHEDULES, "schedule"),
        (INITIALIZERS, "init"),
        (ACTIVATIONS, "output_activation"),
    ],
)
def test_every_name_in_the_tables_is_accepted(table, name):
    for value in table:
        assert getattr(TrainConfig(**{name: value}), name) == value


def test_lists_become_tuples_so_equal_configs_compare_equal():
    config = TrainConfig(hidden=[16, 16], conv=[[6], [16]])
    assert config.hidden == (16, 16) and config.conv == ((6,), (16,))
    assert config == TrainConfig(hidden=(16, 16), conv=((6,), (16,)))
    assert hash(config) == hash(TrainConfig(hidden=(16, 16), conv=((6,), (16,))))


def test_a_config_cannot_be_changed_in_place():
    config = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0


# --- architecture --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, architecture",
    [
        ({}, "784-100-10"),
        ({"hidden": (16, 16)}, "784-16-16-10"),
        ({"hidden": ()}, "784-10"),
        ({"conv": ((6,), (16,)), "hidden": (120, 84)}, "28x28-c6-pool-c16-pool-120-84-10"),
        ({"conv": ((32, 32), (64,)), "hidden": ()}, "28x28-c32-c32-pool-c64-pool-10"),
        ({"conv": ((4,),), "hidden": (16,), "kernel_size": 3, "batch_norm": True}, "28x28-c4-pool-16-10"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_architecture_names_every_layer(changes, architecture):
    assert TrainConfig(**changes).architecture == architecture


# --- to_dict / from_dict / replace ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(),
        TrainConfig(hidden=(16, 16), activation="sigmoid", cost="quadratic", optimizer="sgd", lr=3.0, seed=7),
        TrainConfig(conv=((6,), (16, 16)), kernel_size=3, batch_norm=True, augment="elastic", workers=2),
        TrainConfig(init="glorot", output_activation="softmax", train_size=500, patience=2, dropout=0.25),
    ],
    ids=["default", "sigmoid-mlp", "cnn", "optional-settings"],
)
def test_to_dict_and_from_dict_round_trip_through_json(config):
    d = config.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert d["hidden"] == list(config.hidden) and d["conv"] == [list(stage) for stage in config.conv]
    restored = TrainConfig.from_dict(json.loads(json.dumps(d)))  # as a model file stores it
    assert restored == config and restored.to_dict() == d
    assert restored.architecture == config.architecture


def test_from_dict_refuses_unknown_settings_naming_them():
    d = {**TrainConfig().to_dict(), "lerning_rate": 0.1, "bogus": 1}
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict(d)
    assert "lerning_rate" in str(info.value) and "bogus" in str(info.value)
    assert "lr" in str(info.value)  # the known settings, to spot the typo


def test_from_dict_validates_the_values():
    with pytest.raises(ValueError, match="seed"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "seed": -3})


def test_from_dict_gives_missing_settings_their_defaults():
    """A model file written before a setting existed still loads."""
    assert TrainConfig.from_dict({"hidden": [16]}) == TrainConfig(hidden=(16,))


def test_replace_returns_a_new_validated_config():
    base = TrainConfig(hidden=(16,))
    changed = base.replace(lr=0.1, epochs=3)
    assert (changed.lr, changed.epochs, changed.hidden) == (0.1, 3, (16,))
    assert (base.lr, base.epochs) == (TrainConfig().lr, TrainConfig().epochs)  # the original is untouched
    assert base.replace() == base
    with pytest.raises(ValueError, match="lr"):
        base.replace(lr=-1.0)
    with pytest.raises((TypeError, ValueError)):  # a misspelt setting is never silently ignored
        base.replace(lerning_rate=0.1)


def test_numpy_integers_are_stored_as_python_integers_that_json_can_write():
    config = TrainConfig(seed=np.int64(3), epochs=np.int64(2), batch_size=np.int32(16), workers=np.int64(1))
    assert (type(config.seed), type(config.epochs), type(config.batch_size), type(config.workers)) == (
        int,
    ) * 4
    assert json.loads(json.dumps(config.to_dict()))["seed"] == 3


def test_one_hidden_layer_may_be_given_as_a_number_and_anything_else_is_refused_by_name():
    assert TrainConfig(hidden=100).hidden == (100,) and TrainConfig(hidden=np.int64(30)).hidden == (30,)
    assert TrainConfig(hidden="16x16").hidden == (16, 16) and TrainConfig(conv="6/16").conv == ((6,), (16,))
    for bad, message in [
        (
            "16,a",
            "hidden must be hidden layer sizes such as 100 or 16x16, or none for no hidden layer, got '16,a'",
        ),
        (1.5, "got 1.5"),
        (None, "got None"),
        ([16, 1.5], "hidden layer sizes must be whole numbers, got \\[16, 1.5\\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(hidden=bad)


@pytest.mark.parametrize(
    "conv, kernel, side",
    [(((2,),), 99, 28), (((2,), (4,)), 15, 14), (((2,), (4,), (8,)), 9, 7), (((2,), (4,), (8,), (8,)), 5, 3)],
)
def test_a_kernel_larger_than_the_last_stages_input_is_refused_before_anything_is_built(conv, kernel, side):
    with pytest.raises(
        ValueError, match=f"larger than the {side}x{side} input of the last convolutional stage"
    ):
        TrainConfig(conv=conv, kernel_size=kernel)
    largest = side if side % 2 else side - 1
    assert TrainConfig(conv=conv, kernel_size=largest).kernel_size == largest


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"hidden": (16, 16)},
        {"conv": ((6,), (16,)), "hidden": (120, 84)},
        {"conv": ((32, 32), (64,)), "hidden": (128,), "batch_norm": True, "kernel_size": 3},
    ],
)
def test_parameter_count_is_the_built_networks(changes):
    from digitnet.training.runs import build_model

    config = TrainConfig(**changes)
    assert config.parameter_count == build_model(config).n_params


def test_a_network_that_cannot_fit_in_memory_is_refused_with_the_size_it_would_need(monkeypatch):
    import digitnet.training.config as config_module

    monkeypatch.setattr(config_module, "physical_memory", lambda: 8_000_000_000)  # an 8 GB machine
    with pytest.raises(ValueError) as refused:
        TrainConfig(hidden=(2_000_000,))  # 1.59 billion parameters: 12.7 GB of weights and gradients
    assert (
        "784-2000000-10 has 1,590,000,010 parameters and needs at least 13.2 GB with batch_size 64, the "
        "machine has 8.0 GB; make its layers smaller"
    ) in str(refused.value)
    TrainConfig(hidden=(500_000,))  # 3.2 GB: it may train
    with pytest.raises(ValueError, match=r"needs at least 12\.1 GB with batch_size 60000"):
        TrainConfig(conv=((64,),), batch_size=60_000)  # 60,000 x 64 x 28 x 28 values for one layer
    monkeypatch.setattr(config_module, "physical_memory", lambda: None)  # where the OS does not say
    TrainConfig(conv=((64,),), batch_size=60_000)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("epochs", 1_000_000_000, "epochs must be an integer from 1 to 100000"),
        ("epochs", 10**300, "epochs must be an integer from 1 to 100000"),
        ("batch_size", 60_001, "batch_size must be an integer from 1 to 60000"),
        ("patience", 10**6, "patience must be an integer from 1 to 100000"),
    ],
)
def test_counts_beyond_any_experiment_are_refused(name, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{name: value})
