"""Teaching a model one learner's handwriting: a little training on MNIST mixed with their drawings.

The learner's drawings ``mine`` are repeated until they are a tenth of the mix, the other nine tenths
MNIST's first 10,000 training digits, so the model learns the new hand without forgetting the old ones;
two epochs of Adam at 3e-4 (a tenth of a fresh training's step), batches of 32. What it gains is measured
on the drawings the learner kept apart (never trained on), what it forgets on MNIST's 10,000 test digits,
both before and after; the result is saved as a new run folder, the original model untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitnet.data import MNIST
from digitnet.modelfile import LoadedModel
from digitnet.modelfile.run_folder import write_run
from digitnet.nn import Adam, FitSettings, Sequential
from digitnet.nn.training import fit

__all__ = ["MNIST_DIGITS", "fine_tuned"]

MNIST_DIGITS = 10_000  # MNIST training digits in the mix; the learner's drawings make a tenth more
STEP = 3e-4
BATCH = 32


def fine_tuned(
    loaded: LoadedModel, name: str, data: MNIST, mine, kept, epochs: int, folder: Path, callbacks
) -> str:
    """Fine-tune a copy of ``loaded`` (see the module), save it in ``folder``; what to tell the learner.

    Shape: mine = (x (N, 784) in [0, 1], y (N,)), kept likewise (M may be 0).
    """
    model = Sequential.from_config(loaded.model.config())
    model.set_state(loaded.model.named_state())
    x_mine, y_mine = mine
    copies = max(1, round(MNIST_DIGITS / 9 / len(x_mine)))  # a tenth of the mix
    x = np.concatenate([data.train.x[:MNIST_DIGITS], np.repeat(x_mine, copies, axis=0)]).astype(np.float32)
    y = np.concatenate([data.train.y[:MNIST_DIGITS], np.repeat(y_mine, copies)]).astype(np.intp)
    before = _scores(model, data, kept)
    settings = FitSettings(epochs=epochs, batch_size=BATCH)
    history = fit(
        model,
        x,
        y,
        optimizer=Adam(STEP),
        settings=settings,
        rng=np.random.default_rng(0),
        callbacks=callbacks,
    )
    after = _scores(model, data, kept)
    metrics = {
        "preset": f"fine-tuned from {name} on {len(x_mine)} drawings",
        "architecture": model.architecture,
        "parameters": model.n_params,
        "fine_tuned_from": name,
        "drawings": len(x_mine),
        "kept_drawings": len(kept[0]),
        "epochs_trained": epochs,
        "test_accuracy": after["mnist"],
        "test_accuracy_before": before["mnist"],
        **({"kept_accuracy_before": before["kept"], "kept_accuracy": after["kept"]} if len(kept[0]) else {}),
    }
    write_run(folder, model, training=loaded.training, history=history.to_dict(), metrics=metrics)
    kept_said = (
        f"your kept-apart drawings: {before['kept']:.0%} -> {after['kept']:.0%}; " if len(kept[0]) else ""
    )
    return f"{kept_said}MNIST's test digits: {before['mnist']:.2%} -> {after['mnist']:.2%}"


def _scores(model, data: MNIST, kept) -> dict[str, float]:
    x_kept, y_kept = kept
    scores = {"mnist": float((model.predict(data.test.x) == data.test.y).mean())}
    if len(x_kept):
        scores["kept"] = float((model.predict(x_kept) == y_kept).mean())
    return scores
