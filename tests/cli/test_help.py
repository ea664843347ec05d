"""Every option of every command has help, and the help shows real defaults, never "(default: None)"."""

import argparse
import re

import pytest

from digitnet.cli.main import build_parser, main
from digitnet.cli.train import FLAG_FIELDS
from digitnet.training.presets import get_preset


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def flat(text: str) -> str:
    """Help text on one line, so a phrase wrapped across lines is still found."""
    return " ".join(text.split())


def test_every_option_of_every_command_has_help():
    parsers = {"digitnet": build_parser(), **commands()}
    assert len(parsers) == 14  # digitnet and its 13 commands
    for name, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (
                f"{name} {action.option_strings or action.dest}"
            )


@pytest.mark.parametrize("name", sorted(commands()))
def test_no_help_shows_a_default_of_none(name):
    text = flat(commands()[name].format_help())
    assert "default: None" not in text and "(default: )" not in text


def test_train_help_shows_the_default_presets_values():
    parser = commands()["train"]
    text = flat(parser.format_help())
    preset = get_preset("default")
    assert f"(default: {preset.epochs})" in text and f"(default: {preset.lr:g})" in text
    for expected in (
        "hidden layer sizes, e.g. 16x16 (default: 100)",
        "(default: relu)",
        "(default: adam)",
        "(default: cosine)",
        "mini-batch size (default: 64)",
        "(default: 10000)",
        "use only the first N training images (default: all)",
        "(default: by activation",
        "(default: none: train every epoch)",
        "--preset PRESET a named recipe: default,",
    ):
        assert expected in text
    shown = {
        a.dest
        for a in parser._actions
        if re.search(r"\(default: ", flat(parser._get_formatter()._expand_help(a)) if a.help else "")
    }
    assert set(FLAG_FIELDS) <= shown  # every flag that overrides the preset shows the preset's value


def test_the_flags_own_defaults_stay_unset(capsys):
    """Showing the preset's values must not make them flags: --preset seeds still trains the seeds recipe."""
    from digitnet.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--preset", "seeds"])
    assert all(getattr(args, name) is None for name in FLAG_FIELDS)
    assert config_from_args(args) == get_preset("seeds")


def test_gradcheck_help_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    text = flat(capsys.readouterr().out)
    for expected in (
        "hidden layer sizes (default: 8x6)",
        "(default: sigmoid)",
        "(default: cross-entropy)",
        "seed of the weights and of the checked batch (default: 0)",
        "(default: none)",
    ):
        assert expected in text
