"""Terminal control sequences in what a user names (file names, flag values) reach the terminal as text:
every line the CLI prints shows them as escapes, whatever path the line takes."""

import pytest
from cli_helpers import run
from PIL import Image

from digitnet.imaging.pen import render_strokes

CLEAR = "\x1b[2J"  # would clear the screen
TITLE = "\x1b]0;owned\x07"  # would set the terminal's title


def no_control_characters(text):
    return all(c.isprintable() or c == "\n" for c in text)


def test_a_file_name_in_a_prediction_and_in_an_error_is_escaped(tmp_path, capsys):
    good = tmp_path / f"seven{CLEAR}.png"
    Image.fromarray(render_strokes([[(70, 50), (210, 50), (120, 245)]])).save(good)
    bad = tmp_path / f"notes{TITLE}.png"
    bad.write_text("not an image")
    code, out, err = run(capsys, "predict", "cnn", good, bad)
    assert code == 1 and no_control_characters(out) and no_control_characters(err)
    assert "seven\\x1b[2J.png: 7" in out and "notes\\x1b]0;owned\\x07.png" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", f"missing{CLEAR}.safetensors"],  # an error raised by a command
        ["info", f"/nonexistent/{TITLE}"],
        ["train", "--preset", f"seeds{CLEAR}"],  # an error argparse raises
        ["train", "--seed", f"1{TITLE}"],
    ],
)
def test_every_error_line_shows_control_characters_as_escapes(capsys, argv):
    try:
        code, out, err = run(capsys, *argv)
    except SystemExit as exit_:
        code, (out, err) = exit_.code, capsys.readouterr()
    assert code != 0 and err and no_control_characters(err) and no_control_characters(out)
    assert "\\x1b" in err


def test_a_message_of_several_lines_keeps_its_lines():
    from digitnet.cli.output import error_line

    line = error_line("data", f"every mirror failed:\n  http://a{CLEAR}: refused\n  http://b: refused")
    assert line.splitlines() == [
        "digitnet data: error: every mirror failed:",
        "  http://a\\x1b[2J: refused",
        "  http://b: refused",
    ]
