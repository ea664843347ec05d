"""What the command-line tests share: running ``digitnet`` in-process, and the tiniest training run."""

from digitnet.cli.main import main

TINY = "--hidden 8 --epochs 1 --train-size 500 --validation-size 100 --no-progress".split()
"""A training run of a second or two: enough to write a model, not to learn much."""


def run(capsys, *argv):
    """``digitnet ARGV...`` in this process: (exit code, stdout, stderr). Arguments may be paths."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
