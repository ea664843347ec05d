"""What a MODEL argument may be: a model file, a run folder holding one, or the name of a bundled model.

Every command that takes a model (``evaluate``, ``predict``, ``info``, ``report``, ``train --config``)
resolves it here, in this order: a path that exists always wins (a file, or a folder holding
``model.safetensors``); otherwise ``cnn``, ``mlp`` and ``lenet5`` name the models shipped with digitnet
(:func:`digitnet.models.bundled_models`), as in ``digitnet serve``, and ``default`` names the default one
(``cnn``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digitnet.errors import ModelFileError
from digitnet.modelfile.run_folder import MODEL_FILE
from digitnet.models import DEFAULT_NAME, bundled_models

__all__ = ["MODEL_HELP", "OneModel", "bundled_name", "resolve_model"]

MODEL_HELP = (
    f"a model file written by `digitnet train`, a run folder holding one, or a bundled model: "
    f"{', '.join(bundled_models())} (default: {DEFAULT_NAME})"
)
"""The help text of every MODEL argument."""


class OneModel(argparse.Action):
    """An argparse action for a MODEL given ``nargs="+"``: takes exactly one, and says plainly what to do
    when a pattern such as ``runs/default-*/model.safetensors`` matched several runs."""

    takes_one = True  # the help shows MODEL, not MODEL [MODEL ...]

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > 1:
            shown = ", ".join(values[:3]) + (", ..." if len(values) > 3 else "")
            parser.error(
                f"give one model, got {len(values)} ({shown}); a pattern such as runs/default-*/ matches "
                f"every run: name one, e.g. `{parser.prog} runs/default-20260101-120000/`"
            )
        setattr(namespace, self.dest, values[0])


def resolve_model(text: str) -> Path:
    """The model file that ``text`` names.

    Parameters
    ----------
    text : str
        A model file, a run folder holding ``model.safetensors``, or a bundled model's name.

    Returns
    -------
    pathlib.Path
        The model file, not yet read (:func:`digitnet.modelfile.load_model` checks it).

    Raises
    ------
    ModelFileError
        If ``text`` is none of these; the message lists the bundled names.
    """
    path = Path(text).expanduser()
    try:
        if path.is_dir():
            if (path / MODEL_FILE).is_file():
                return path / MODEL_FILE
            raise ModelFileError(
                f"{path}: a folder without {MODEL_FILE}; give a model file, a run folder written by "
                f"`digitnet train`, or a bundled model ({_names()})"
            )
        if path.exists():
            return path
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be looked at ({exc.strerror or exc})") from None
    bundled = bundled_models()
    if text == "default":
        return bundled[DEFAULT_NAME]
    if text in bundled:
        return bundled[text]
    raise ModelFileError(
        f"{path}: no such model file; give a file written by `digitnet train` (it prints where it saved "
        f"it), a run folder holding {MODEL_FILE}, or a bundled model: {_names()}"
    )


def bundled_name(path: Path) -> str | None:
    """The bundled model's name if ``path`` is one of the shipped model files, else None."""
    for name, bundled in bundled_models().items():
        if path == bundled:
            return name
    return None


def _names() -> str:
    return f"{', '.join(bundled_models())}, or default ({DEFAULT_NAME})"
