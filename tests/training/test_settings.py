"""The table of training settings: one row per TrainConfig field, one text form for every front end, and
the front ends made from it (``digitnet train``'s flags, the sweeps' parsing, the estimator)."""

import dataclasses
import inspect

import pytest

from digitnet.cli.main import build_parser, main
from digitnet.sweeps.spec import parse_value
from digitnet.training import PRESETS, SETTINGS, TrainConfig
from digitnet.training.setting import show_value


def test_every_field_of_train_config_has_one_row_and_every_row_a_field():
    assert list(SETTINGS) == [row.name for row in SETTINGS.values()]
    assert set(SETTINGS) == {field.name for field in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_presets_value_survives_its_text_form(preset):
    """show then parse gives the value back, for every setting of every preset: what `train --help`
    shows as a default, a sweep file or --grid may say, and means the same."""
    config = PRESETS[preset][1]
    for row in SETTINGS.values():
        value = getattr(config, row.name)
        assert row.parse(row.show(value) if value is not None else "none") == value, (preset, row.name)


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("hidden", "16x16", (16, 16)),
        ("hidden", "100", (100,)),
        ("hidden", "none", ()),
        ("conv", "6/16", ((6,), (16,))),
        ("conv", "32x32/64x64", ((32, 32), (64, 64))),
        ("conv", "none", ()),
        ("batch_norm", "true", True),
        ("init", "none", None),
        ("epochs", "30", 30),
        ("lr", "3e-3", 0.003),
        ("clip_norm", "none", None),
    ],
)
def test_one_text_form_in_every_front_end(name, text, value, capsys):
    """The sweeps' reading, the table's and the command line's give the same value for the same text."""
    assert parse_value(name, text) == value == SETTINGS[name].parse(text)
    if SETTINGS[name].kind not in ("bool",):
        args = build_parser().parse_args(["train", SETTINGS[name].option, text])
        assert getattr(args, name) in (value, text)  # choices stay text until config_from_args
    assert capsys.readouterr().err == ""  # no note: these are the spellings to write


@pytest.mark.parametrize(
    "flag, old, new, value",
    [
        ("--hidden", "16,16", "16x16", (16, 16)),
        ("--conv", "32,32/64,64", "32x32/64x64", ((32, 32), (64, 64))),
        ("--hidden", "30-10", "30x10", (30, 10)),
    ],
)
def test_an_old_spelling_is_read_with_a_note_naming_the_new_one(flag, old, new, value, capsys):
    args = build_parser().parse_args(["train", flag, old])
    assert getattr(args, flag.lstrip("-")) == value
    assert f"{flag} {old} is the old spelling, read until digitnet 0.3; write {flag} {new}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("front", ["train", "sweep"])
def test_the_empty_string_is_refused_by_every_front_end_alike(front, capsys, tmp_path):
    """An unset shell variable must not train another network than the one asked for."""
    argv = (
        ["train", "--hidden", ""]
        if front == "train"
        else ["sweep", "--grid", "hidden=16x16,", "--out", str(tmp_path)]
    )
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage error
        code = exit.code
    err = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in err
    assert "hidden" in err and "an empty value" in err


def test_the_train_flags_are_the_tables_rows():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train._actions}
    assert {row.name for row in SETTINGS.values() if row.flag} <= dests
    assert "output_activation" not in dests  # a row without a flag


def test_the_estimator_mirrors_the_table():
    """Its explicit constructor (scikit-learn needs one) takes every row the table marks for it, with
    TrainConfig's defaults, and its own few; its docstring lists each row."""
    pytest.importorskip("sklearn")
    from digitnet.sklearn import OWN_PARAMETERS, DigitNetClassifier

    parameters = inspect.signature(DigitNetClassifier.__init__).parameters
    mirrored = [name for name in parameters if name not in ("self", *OWN_PARAMETERS)]
    assert sorted(mirrored) == sorted(row.name for row in SETTINGS.values() if row.estimator)
    defaults = TrainConfig()
    assert all(parameters[name].default == getattr(defaults, name) for name in mirrored)
    assert all(f"    {name} : " in DigitNetClassifier.__doc__ for name in mirrored)


def test_show_value_writes_the_text_form():
    assert show_value((16, 16)) == "16x16"
    assert show_value(((32, 32), (64, 64))) == "32x32/64x64"
    assert show_value(()) == "none" and show_value(None) == "none"
    assert show_value(True) == "on" and show_value(3e-4) == "0.0003"


def test_none_on_the_command_line_overrides_a_recorded_value(tmp_path):
    """--patience none is a value, not "flag not given": it clears a patience the recorded run had."""
    from digitnet.cli.train import config_from_args
    from digitnet.modelfile import save_model
    from digitnet.training import build_model

    recorded = TrainConfig(hidden=(8,), patience=3, clip_norm=2.0, train_size=500)
    path = save_model(tmp_path / "m.safetensors", build_model(recorded), training=recorded.to_dict())
    argv = [
        "train",
        "--config",
        str(path),
        "--patience",
        "none",
        "--clip-norm",
        "none",
        "--train-size",
        "none",
    ]
    config = config_from_args(build_parser().parse_args(argv))
    assert (config.patience, config.clip_norm, config.train_size, config.hidden) == (None, None, None, (8,))
