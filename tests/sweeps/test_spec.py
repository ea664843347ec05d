"""What a sweep trains: grids, lists and random draws over TrainConfig's settings, values parsed by each
setting's type, every configuration checked before anything trains, stable run keys."""

import json

import pytest

from digitnet.cli.main import build_parser
from digitnet.cli.sweep import spec_from_args
from digitnet.sweeps.spec import (
    SweepSpec,
    parse_assignment,
    parse_distribution,
    parse_value,
    run_key,
)
from digitnet.sweeps.sweep_file import spec_from_mapping
from digitnet.training.presets import get_preset


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("lr", "3e-3", 0.003),
        ("hidden", "100", (100,)),
        ("hidden", "16x16", (16, 16)),
        ("hidden", "none", ()),
        ("conv", "6/16", ((6,), (16,))),
        ("conv", "32x32/64x64", ((32, 32), (64, 64))),
        ("batch_norm", "true", True),
        ("batch_norm", "False", False),
        ("epochs", "1e1", 10),
        ("init", "none", None),
        ("init", "he", "he"),
        ("train_size", "none", None),
        ("activation", "sigmoid", "sigmoid"),
    ],
)
def test_text_values_are_parsed_by_the_settings_type(name, text, value):
    assert parse_value(name, text) == value


def test_values_from_json_or_toml_are_taken_as_they_come():
    assert parse_value("hidden", 100) == (100,)
    assert parse_value("hidden", [16, 16]) == (16, 16)
    assert parse_value("conv", [[6], [16]]) == ((6,), (16,))
    assert parse_value("init", None) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs=2.5", "epochs must be an integer from 1 to 100000, got '2.5'"),
        ("batch_norm=maybe", "batch_norm must be true or false, got 'maybe'"),
        ("hidden=16,a", "hidden must be hidden layer sizes such as 100 or 16x16, or none"),
        ("speed=1,2", "unknown setting 'speed'; a sweep can vary any of"),
        ("seed=1,2", "--seeds N"),
        ("lr", "SETTING=VALUE"),
        ("lr=", "SETTING=VALUE"),
    ],
)
def test_bad_assignments_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_assignment(text)


def test_grid_is_every_combination_times_every_seed_with_stable_distinct_keys():
    spec = SweepSpec(grid={"lr": [1e-3, 3e-3, 1e-3], "hidden": ["16", "32"]}, seeds=(0, 1))
    runs = spec.runs()
    assert len(runs) == 2 * 2 * 2  # the repeated lr is trained once
    assert len({r.key for r in runs}) == 8 and len({r.group for r in runs}) == 4
    assert spec.swept() == ["lr", "hidden"]
    assert [r.key for r in runs] == [r.key for r in SweepSpec(**_fields(spec)).runs()]
    assert all(r.key == run_key(r.config) for r in runs)
    lr3 = [r for r in runs if r.settings == {"lr": 0.003, "hidden": [32]}]
    assert [r.config.seed for r in lr3] == [0, 1] and lr3[0].group == lr3[1].group


def _fields(spec):
    return {"grid": spec.grid, "seeds": spec.seeds}


def test_a_list_and_the_grid_are_trained_together_once_each():
    spec = SweepSpec(grid={"lr": [1e-3, 3e-3]}, points=({"lr": 1e-3}, {"activation": "sigmoid"}))
    settings = [r.settings for r in spec.runs()]
    assert settings == [{"lr": 0.001}, {"lr": 0.003}, {"activation": "sigmoid"}]


def test_random_draws_follow_their_distributions_and_repeat_with_the_same_seed():
    spec = SweepSpec(
        samples=40,
        distributions={
            "lr": {"log_uniform": [1e-4, 1e-2]},
            "dropout": {"uniform": [0, 0.5]},
            "batch_size": {"uniform": [16, 128]},
            "hidden": [16, "8x8"],
        },
    )
    drawn = spec.settings()
    assert len(drawn) == 40
    assert all(1e-4 <= s["lr"] <= 1e-2 and 0 <= s["dropout"] <= 0.5 for s in drawn)
    assert all(isinstance(s["batch_size"], int) and 16 <= s["batch_size"] <= 128 for s in drawn)
    assert {s["hidden"] for s in drawn} == {(16,), (8, 8)}
    assert sum(s["lr"] < 1e-3 for s in drawn) > 10  # log-uniform: half the draws below the geometric middle
    assert drawn == SweepSpec(samples=40, distributions=spec.distributions).settings()
    assert drawn != SweepSpec(samples=40, distributions=spec.distributions, sample_seed=1).settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=log:1e-4:1e-2", ("lr", {"log_uniform": [1e-4, 1e-2]})),
        ("dropout=0:0.5", ("dropout", {"uniform": [0.0, 0.5]})),
        ("hidden=16,64", ("hidden", {"choice": [(16,), (64,)]})),
    ],
)
def test_sample_flags(text, expected):
    assert parse_distribution(text) == expected


def test_sample_bounds_must_be_numbers():
    with pytest.raises(ValueError, match="the bounds must be numbers"):
        parse_distribution("lr=log:small:large")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grid": {"lr": [1e-3, -1.0]}}, "lr must be a positive finite number, got -1.0"),
        (
            {"grid": {"activation": ["relu", "swish"]}},
            "activation must be one of sigmoid, tanh, relu, got 'swish'",
        ),
        ({"seeds": (0, 0)}, "seeds must be distinct"),
        ({"seeds": ()}, "seeds must be distinct"),
        ({"samples": 3}, "at least one --sample"),
        ({"distributions": {"lr": {"uniform": [1, 2]}}}, "need --samples N"),
        ({"samples": 2, "distributions": {"lr": {"log_uniform": [0, 1]}}}, "positive bounds"),
        ({"samples": 2, "distributions": {"lr": {"normal": [0, 1]}}}, "unknown distribution 'normal'"),
        ({"samples": 2, "distributions": {"lr": {"uniform": [2, 1]}}}, "low < high"),
        ({"grid": {"lr": []}}, "has no values"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_trains(fields, message):
    with pytest.raises(ValueError, match=message):
        SweepSpec(**fields).runs()


def test_a_sweep_file_in_json_and_in_toml(tmp_path):
    content = {
        "preset": "seeds",
        "seeds": 2,
        "base": {"epochs": 3},
        "grid": {"lr": [1.0, 3.0], "hidden": [30, "16x16"]},
        "list": [{"activation": "relu", "lr": 0.1}],
        "random": {"samples": 2, "seed": 4, "l2": {"log_uniform": [1e-5, 1e-3]}},
    }
    spec = spec_from_mapping(content)
    assert spec.base.activation == "sigmoid" and spec.base.epochs == 3  # the preset, then base
    assert spec.seeds == (0, 1) and len(spec.settings()) == 4 + 1 + 2
    (tmp_path / "sweep.json").write_text(json.dumps(content))
    toml = """
preset = "seeds"
seeds = 2
[base]
epochs = 3
[grid]
lr = [1.0, 3.0]
hidden = [30, "16x16"]
[[list]]
activation = "relu"
lr = 0.1
[random]
samples = 2
seed = 4
l2 = {log_uniform = [1e-5, 1e-3]}
"""
    (tmp_path / "sweep.toml").write_text(toml)
    parser = build_parser()
    for name in ("sweep.json", "sweep.toml"):
        args = parser.parse_args(["sweep", "--file", str(tmp_path / name)])
        assert [r.key for r in spec_from_args(args).runs()] == [r.key for r in spec.runs()]
    # Flags add to the file and override it.
    args = parser.parse_args(
        ["sweep", "--file", str(tmp_path / "sweep.toml"), "--seeds", "5,6", "--set", "epochs=1"]
    )
    flagged = spec_from_args(args)
    assert flagged.seeds == (5, 6) and flagged.base.epochs == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"grids": {}}, r"unknown keys \['grids'\]"),
        ({"grid": {"lr": 0.1}}, "grid must be a table of lists"),
        ({"base": {"speed": 1}}, "unknown setting 'speed'"),
        ({"preset": "huge"}, "unknown preset"),
        ({"seeds": 0}, "seeds must be a count"),
        ([1, 2], "holds no table"),
    ],
)
def test_bad_sweep_files_say_what_is_wrong(content, message):
    with pytest.raises(ValueError, match=message):
        spec_from_mapping(content)


def test_unreadable_sweep_files_are_refused_with_the_reason(tmp_path):
    parser = build_parser()
    (tmp_path / "bad.json").write_text("{lr: 1")
    (tmp_path / "bad.toml").write_text("lr = [1,")
    with pytest.raises(ValueError, match="is not valid JSON"):
        spec_from_args(parser.parse_args(["sweep", "--file", str(tmp_path / "bad.json")]))
    with pytest.raises(ValueError, match="is not valid TOML"):
        spec_from_args(parser.parse_args(["sweep", "--file", str(tmp_path / "bad.toml")]))


def test_command_line_flags():
    parser = build_parser()
    args = parser.parse_args(
        ["sweep", "--preset", "seeds", "--set", "epochs=2", "--grid", "lr=1,3", "--grid", "hidden=16,16x16"]
        + ["--seeds", "3", "--sample", "l2=log:1e-5:1e-3", "--samples", "2"]
    )
    spec = spec_from_args(args)
    assert spec.base == get_preset("seeds").replace(epochs=2)
    assert spec.seeds == (0, 1, 2) and len(spec.runs()) == (4 + 2) * 3
    with pytest.raises(ValueError, match="one value only"):
        spec_from_args(parser.parse_args(["sweep", "--set", "lr=1,3"]))
    with pytest.raises(ValueError, match="a count"):
        spec_from_args(parser.parse_args(["sweep", "--seeds", "two"]))


def test_a_setting_added_later_leaves_the_run_keys_of_earlier_releases_as_they_were():
    """clip_norm came in 0.2: at its default it is not in the key, so 0.1's sweep folders keep their names."""
    from digitnet.sweeps.spec import config_key
    from digitnet.training import TrainConfig

    config = TrainConfig(hidden=(16,), epochs=3)
    earlier = {k: v for k, v in config.to_dict().items() if k != "clip_norm"}
    assert run_key(config) == config_key(earlier)
    assert run_key(config.replace(clip_norm=1.0)) != run_key(config)
