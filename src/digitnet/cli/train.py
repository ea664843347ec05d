"""``digitnet train``: train a network on MNIST, test it, and save the model and its metrics."""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import datetime
from pathlib import Path

from threadpoolctl import threadpool_limits

from digitnet import kernels
from digitnet.cli.modelpath import resolve_model
from digitnet.cli.options import add_data_option, add_setting_flag, integer, output_folder
from digitnet.cli.output import format_table, percent, print_json
from digitnet.cli.outputs import claimed_output_dir, save_or_rescue
from digitnet.data import find_mnist_dir, load_mnist
from digitnet.modelfile import load_model
from digitnet.modelfile.run_folder import METRICS_FILE, MODEL_FILE, read_record, write_run
from digitnet.models import bundled_models
from digitnet.training.config import TrainConfig
from digitnet.training.finished import FinishedEpochs
from digitnet.training.presets import PRESETS, get_preset
from digitnet.training.progress import ProgressBars
from digitnet.training.runs import train
from digitnet.training.settings import SETTINGS
from digitnet.training.tensorboard import TensorBoardLog

__all__ = ["MODEL_FILE", "METRICS_FILE", "add_parser", "config_from_args", "recorded_config", "run"]


def add_parser(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a network on MNIST and save it",
        description="Train a network on MNIST, report its test accuracy, and write model.safetensors and "
        "metrics.json into the output folder (checked writable before training starts). Flags override "
        "the chosen preset; the defaults shown are those of the default preset.",
    )
    p.add_argument("--preset", default="default", help=f"a named recipe: {', '.join(PRESETS)}")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="start from the settings recorded in a model file, a run folder, a run's metrics.json or a "
        f"bundled model ({', '.join(bundled_models())}), instead of a preset: reproduces that run",
    )
    groups = {name: p.add_argument_group(name) for name in ("network", "optimisation", "data and output")}
    for row in SETTINGS.values():
        if row.name == "workers":  # the output options come before it, as they always have
            _add_output_options(groups[row.group])
        if row.flag:
            add_setting_flag(groups[row.group], row)
    _show_preset_defaults(p, get_preset("default"))
    p.set_defaults(run=run)


FLAG_FIELDS = tuple(row.name for row in SETTINGS.values() if row.flag)
"""The settings ``digitnet train`` has a flag for: every row of the table that asks for one."""


def _add_output_options(dat) -> None:
    """The options of ``digitnet train`` that are no training setting: where the data and results are."""
    add_data_option(dat)
    dat.add_argument(
        "--out", type=output_folder, metavar="DIR", help="output folder (default: runs/PRESET-TIMESTAMP)"
    )
    dat.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    dat.add_argument(
        "--json", action="store_true", help="print the final metrics as one JSON object on stdout"
    )
    dat.add_argument("--no-progress", action="store_true", help="no progress bars")
    dat.add_argument(
        "--watch",
        type=integer("--watch", 1, 65535),
        metavar="PORT",
        help="watch it learn in the browser: serve the training view at http://127.0.0.1:PORT/train while "
        "it trains (the cost per batch, accuracies, the first layer's weights, answers on ten digits); "
        "its Stop is Ctrl-C",
    )
    dat.add_argument(
        "--tensorboard",
        type=output_folder,
        metavar="DIR",
        help="also write the run as TensorBoard event files into DIR (cost per batch, accuracy, learning "
        "rate, weight histograms, first-layer weights as images): tensorboard --logdir DIR shows it "
        "(pip install 'digitnet[tensorboard]')",
    )
    dat.add_argument(
        "--threads",
        type=integer("--threads", 1),
        metavar="N",
        help="cores for the matrix products (default: all). Use 1 per run when several run at once: "
        "threads that share cores with another job slow down many times over",
    )


def _show_preset_defaults(parser: argparse.ArgumentParser, preset: TrainConfig) -> None:
    """Give each flag that overrides the preset the preset's value as the default its help shows.

    The flags' own defaults stay None, so that only the flags the user gives change the preset.
    """
    for action in parser._actions:  # argparse keeps a parser's options here, flags of every group included
        if action.dest in FLAG_FIELDS:
            value, row = getattr(preset, action.dest), SETTINGS[action.dest]
            action.shown_default = row.none_means if value is None else row.show(value)


def config_from_args(args) -> TrainConfig:
    changes = {name: getattr(args, name) for name in FLAG_FIELDS if getattr(args, name) is not None}
    for name, value in changes.items():
        if value == "none" and SETTINGS[name].none_means is not None:  # --augment none, --patience none
            changes[name] = None
    if args.optimizer == "adam" and args.momentum is None:
        changes.setdefault("momentum", 0.0)
        changes.setdefault("nesterov", False)
    base = recorded_config(args.config) if args.config else get_preset(args.preset)
    return base.replace(**changes)


def recorded_config(text: str) -> TrainConfig:
    """The TrainConfig recorded in a model file, a run folder, a bundled model or a run's metrics.json.

    A metrics.json is checked against the model file beside it (:func:`read_record`).
    """
    if text.endswith(".json"):
        record = read_record(text)
        settings = record.get("config", record)
    else:
        settings = load_model(resolve_model(text)).training
    if not isinstance(settings, dict) or not settings:
        raise ValueError(f"{text} records no training settings")
    try:
        return TrainConfig.from_dict(settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{text} records settings digitnet cannot train with: {exc}") from None


def run(args) -> int:
    if args.list_presets:
        rows = [(name, cfg.architecture, desc) for name, (desc, cfg) in PRESETS.items()]
        print(format_table(("preset", "network", "recipe"), rows, align="<<<"))
        return 0
    config = config_from_args(args)
    threads = blas_threads(args.threads)
    find_mnist_dir(args.data)  # a bad $DIGITNET_DATA is refused before any folder is made
    # which path runs, decided (and a bad DIGITNET_KERNELS refused) before data, folders or the watch page
    print(f"digitnet: {kernels.description()}", file=sys.stderr, flush=True)
    out = (
        Path(args.out)
        if args.out is not None
        else Path("runs") / f"{args.preset}-{datetime.now():%Y%m%d-%H%M%S}"
    )
    with claimed_output_dir(out):  # a failed run leaves no empty folder behind
        if (out / MODEL_FILE).exists() and not args.overwrite:
            raise ValueError(f"{out / MODEL_FILE} already exists; choose another --out or pass --overwrite")
        data = load_mnist(
            args.data,
            validation_size=config.validation_size,
            train_size=config.train_size,
            progress=not args.no_progress,
        )
        watch = _watching(args, config, data)
        try:
            shown, rescued = _trained_and_saved(args, config, data, out, threads, watch)
        finally:
            if watch is not None:
                watch.close()
        if args.json:
            print_json(shown)
        else:
            print(summary(config, shown))
        if rescued is not None:
            raise rescued
        return 0


def _trained_and_saved(args, config: TrainConfig, data, out: Path, threads, watch):
    """Train, test and save the run: (what to show, a rescue notice or None). Ctrl-C keeps the model of
    the last finished epoch; the training view, when watched, is told how it ended."""
    finished = FinishedEpochs()
    callbacks = [ProgressBars(enabled=not args.no_progress), finished]
    if args.tensorboard is not None:  # before training: a missing extra is said at once
        callbacks.append(TensorBoardLog(args.tensorboard))
    if watch is not None:
        callbacks.append(watch.callback)
    try:
        with threads:
            result = train(config, data, callbacks=callbacks, progress=not args.no_progress)
    except KeyboardInterrupt:
        said = save_interrupted(args, config, finished, out, len(data.train))
        if watch is not None:
            watch.end("stopped", out / MODEL_FILE if finished.state is not None else None, said)
        raise KeyboardInterrupt(said) from None
    finally:
        for callback in callbacks:
            if isinstance(callback, TensorBoardLog):
                callback.writer.close()  # every event written so far, whatever stopped the run
    metrics = {"preset": preset_label(args), **result.metrics}

    def save(folder: Path) -> tuple[Path, Path]:
        history = result.history.to_dict()
        return write_run(folder, result.model, training=config.to_dict(), history=history, metrics=metrics)

    (model_path, metrics_path), _, rescued = save_or_rescue(save, out, "train", "the model and its metrics")
    if watch is not None:
        watch.end("done", model_path, f"test accuracy {metrics['test_accuracy']:.2%}")
    return {**metrics, "model": str(model_path), "metrics_file": str(metrics_path)}, rescued


def _watching(args, config: TrainConfig, data):
    """The training view for ``--watch PORT``, serving already, or None."""
    if args.watch is None:
        return None
    from digitnet.serve.watch import Watch  # here: the server's packages only for a watched run

    watch = Watch(args.watch, config, preset_label(args), data.validation.x, data.validation.y)
    print(f"watch it learn at {watch.url}", flush=True)
    return watch


def preset_label(args) -> str:
    """What a run's metrics call its recipe: the preset's name, or the file its settings came from."""
    return f"settings of {args.config}" if args.config else args.preset


def save_interrupted(args, config: TrainConfig, finished: FinishedEpochs, out: Path, examples: int) -> str:
    """Save the model as it was after the last finished epoch; what to tell the user (Ctrl-C's message)."""
    saved = finished.saved(config, preset_label(args), examples)
    if saved is None:
        return "during the first epoch, so nothing was saved"
    model, history, metrics = saved

    def save(folder: Path) -> tuple[Path, Path]:
        return write_run(folder, model, training=config.to_dict(), history=history, metrics=metrics)

    (model_path, _), _, rescued = save_or_rescue(save, out, "train", "the model of the last finished epoch")
    where = f"{model_path}" + (f" ({rescued})" if rescued is not None else "")
    return f"after epoch {len(finished.epochs)} of {config.epochs}: saved the model of that epoch in {where}"


def blas_threads(threads: int | None):
    """A context in which the BLAS uses ``threads`` threads (all cores when None)."""
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def summary(config: TrainConfig, m: dict) -> str:
    sched = f"{config.schedule} schedule" if config.schedule != "constant" else "constant rate"
    recipe = (
        f"{config.activation}, {config.cost}, {config.optimizer} lr {config.lr:g} ({sched}), "
        f"batch {config.batch_size}"
    )
    extras = [f"L2 {config.l2:g}"] if config.l2 else []
    extras += [f"dropout {config.dropout:g}"] if config.dropout else []
    rows = [
        ("network", f"{m['architecture']} ({m['parameters']:,} parameters)"),
        ("recipe", recipe + (", " + ", ".join(extras) if extras else "")),
        (
            "trained",
            f"{m['epochs_trained']} epochs on {m['train_examples']:,} images in {m['train_seconds']:.1f} s"
            + (f" ({config.workers} workers)" if config.workers > 1 else ""),
        ),
        ("train accuracy", percent(m["train_accuracy"]) + " (running, during the last epoch)"),
    ]
    if "val_accuracy" in m:
        rows.append(("validation accuracy", percent(m["val_accuracy"])))
    rows += [
        (
            "test accuracy",
            f"{percent(m['test_accuracy'])} ({round((1 - m['test_accuracy']) * 10000):,} of 10,000 wrong)",
        ),
        ("model", m["model"]),
        ("metrics", m["metrics_file"]),
    ]
    return format_table(("result", ""), rows, align="<<")
