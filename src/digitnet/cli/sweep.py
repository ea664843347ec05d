"""``digitnet sweep``: many trainings (a grid, a list or random samples, times seeds), on this machine's
cores or on a Dask cluster, with a table of mean ± sd over seeds, the best on validation, and a figure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from digitnet.cli.options import add_data_option, integer, output_folder
from digitnet.cli.output import format_table, print_json
from digitnet.data import find_mnist_dir
from digitnet.errors import DigitnetError
from digitnet.files import read_bounded
from digitnet.modelfile.container import load_bounded_json
from digitnet.sweeps.backends import SCHEDULER_VARIABLE
from digitnet.sweeps.results import setting_label
from digitnet.sweeps.spec import (
    SweepSpec,
    config_key,
    parse_assignment,
    parse_distribution,
)
from digitnet.sweeps.sweep_file import spec_from_mapping
from digitnet.training.presets import PRESETS

__all__ = ["add_parser", "run", "table"]


def add_parser(commands) -> None:
    p = commands.add_parser(
        "sweep",
        help="train many configurations times seeds, here or on a Dask cluster, and compare them",
        description="Train every configuration of a grid (and/or a list, or random samples) over any "
        "training setting, once per seed, through the same path as `digitnet train`, one BLAS thread per "
        "run: on this machine, one run per core, or on a Dask cluster (--scheduler). Each finished run is "
        "saved in --out as it finishes (runs/KEY/model.safetensors and metrics.json); the same command "
        "again trains only the runs that are missing. Prints each configuration's mean ± sd over its "
        "seeds and the best one on validation, and writes results.json and sweep.png.",
        epilog="Values: lr=1e-3,3e-3  hidden=100,16x16,none  conv=6/16,32x32/64x64  batch_norm=true,false. "
        "Random: --sample lr=log:1e-4:1e-2 (log-uniform), --sample dropout=0:0.5 (uniform), "
        "--sample hidden=16,64 (a choice), with --samples N.",
    )
    what = p.add_argument_group("what to train")
    what.add_argument("--preset", help=f"the base recipe: {', '.join(PRESETS)} (default: default)")
    what.add_argument(
        "--set", action="append", default=[], metavar="SETTING=VALUE", help="a setting every run shares"
    )
    what.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SETTING=V1,V2",
        help="values to try (every combination)",
    )
    what.add_argument(
        "--sample", action="append", default=[], metavar="SETTING=DIST", help="a setting drawn at random"
    )
    what.add_argument("--samples", type=integer("--samples", 1), metavar="N", help="random configurations")
    what.add_argument("--sample-seed", type=integer("--sample-seed"), metavar="N", help="seed of the draws")
    what.add_argument(
        "--seeds", metavar="N|S1,S2", help="seeds per configuration: a count or a list (default 1)"
    )
    what.add_argument(
        "--file", metavar="FILE", help="a sweep file (JSON, or TOML on Python 3.11+): see README"
    )
    what.add_argument(
        "--yes",
        action="store_true",
        help="train the sweep even when it has more than 1,000 runs (or the file's max_runs)",
    )
    where = p.add_argument_group("where it runs")
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=os.environ.get(SCHEDULER_VARIABLE) or None,
        help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: $DIGITNET_SCHEDULER; unset: this machine)",
    )
    where.add_argument(
        "--processes", type=integer("--processes", 1), metavar="N", help="local runs at once (default: cores)"
    )
    where.add_argument(
        "--retries", type=integer("--retries"), default=2, metavar="N", help="tries again for a failed run"
    )
    add_data_option(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--out", type=output_folder, metavar="DIR", help="sweep folder (default: runs/sweep-KEY)"
    )
    out.add_argument("--json", action="store_true", help="print results.json's content on stdout")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def spec_from_args(args) -> SweepSpec:
    """The sweep the flags (and ``--file``) describe; the flags add to the file and override it."""
    where = args.file or "the sweep"
    d = _read_file(args.file) if args.file else {}
    if not isinstance(d, dict):
        raise ValueError(f"{where} holds no table of settings")
    if args.preset is not None:
        d["preset"] = args.preset
    base = _table(d, "base", where)
    for text in args.set:
        name, values = parse_assignment(text)
        if len(values) != 1:
            raise ValueError(f"--set {text}: one value only (use --grid to try several)")
        base[name] = values[0]
    grid = _table(d, "grid", where)
    grid.update(parse_assignment(text) for text in args.grid)
    random = _table(d, "random", where)
    random.update(parse_distribution(text) for text in args.sample)
    if args.samples is not None:
        random["samples"] = args.samples
    if args.sample_seed is not None:
        random["seed"] = args.sample_seed
    seeds = d.get("seeds", 1) if args.seeds is None else _seeds(args.seeds)
    grid = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in grid.items()}  # a non-list: refused
    merged = {**d, "base": base, "grid": grid, "random": random}
    return spec_from_mapping({**merged, "seeds": seeds}, where=where)


def _table(d: dict, key: str, where: str) -> dict:
    """``d[key]``, a table of settings (absent: empty); ValueError naming the file for anything else."""
    value = d.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key} must be a table of settings ([{key}] in TOML), got {value!r:.60}")
    return dict(value)


def _seeds(text: str):
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"--seeds {text}: give a count (3) or a list of seeds (0,7,9)")
    return int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]


SWEEP_FILE_LIMIT = 1 << 20
"""Largest sweep file read: 1 MB, a thousand times a sweep file's usual size."""


def _read_file(path: str) -> dict:
    raw = read_bounded(path, what="sweep file (JSON or TOML)", limit=SWEEP_FILE_LIMIT, error=DigitnetError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {exc.start}); give a JSON or TOML sweep file"
        ) from None
    if path.endswith(".toml"):
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ValueError(
                f"{path}: TOML sweep files need Python 3.11 or newer; write it as JSON"
            ) from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None
        except RecursionError:  # arrays nested thousands deep
            raise ValueError(f"{path} is not a sweep file: its arrays nest too deep") from None
    try:
        return load_bounded_json(text)  # nesting counted first: no recursion, no integers of 4,300 digits
    except ValueError as exc:
        raise ValueError(f"{path} is {exc}; a .toml name reads it as TOML") from None


def _cell(stat, scale: float = 100.0, digits: int = 2) -> str:
    if stat is None:
        return "-"
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def table(summary: dict) -> str:
    """Each configuration's swept settings, seeds done, and mean ± sd of validation accuracy, test
    accuracy (%) and training seconds; the best on validation marked with *."""
    swept, best = summary["swept"], summary["best"]
    rows = []
    for r in summary["configurations"]:
        mark = "*" if best is not None and r["group"] == best["group"] else ""
        seconds = r["train_seconds"]
        digits = 2 if seconds and seconds["mean"] < 10 else 1
        rows.append(
            [
                *(setting_label(r["settings"][k]) for k in swept),
                len(r["seeds"]),
                _cell(r["val_accuracy"]),
                _cell(r["test_accuracy"]),
                _cell(seconds, 1.0, digits),
                mark,
            ]
        )
    headers = (*swept, "seeds", "val acc %", "test acc %", "train s", "best")
    return format_table(headers, rows, align="<" * len(swept) + ">>>><")


def run(args) -> int:
    from digitnet.plots import save_figure
    from digitnet.sweeps import DaskCluster, LocalProcesses, run_sweep
    from digitnet.sweeps.backends import available_cores
    from digitnet.sweeps.progress import SweepProgress
    from digitnet.sweeps.results import sweep_figure  # matplotlib: imported when a sweep runs

    spec = spec_from_args(args)
    spec.check_size(confirmed=args.yes)  # counted, not enumerated: a 10^9-run grid is refused at once
    runs = spec.runs()  # every configuration checked before anything starts
    if args.scheduler:
        backend = DaskCluster(args.scheduler)
    else:
        find_mnist_dir(args.data)  # a bad --data or $DIGITNET_DATA is refused before any folder is made
        backend = LocalProcesses(args.processes)
        cores = available_cores()
        if args.processes and args.processes > cores:
            print(
                f"sweep: note: --processes {args.processes} on {cores} cores: runs share cores and each "
                f"holds its data, so they train slower than {cores} at a time would and take more memory",
                file=sys.stderr,
            )
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{config_key(spec.to_dict())[:8]}"
    print(f"sweep: {len(runs)} runs into {out}, on {backend.describe()}", file=sys.stderr)
    outcome = run_sweep(
        spec,
        out,
        backend,
        data_dir=args.data,
        retries=args.retries,
        progress=SweepProgress(enabled=not args.no_progress),
    )
    summary = outcome.summary
    figure = sweep_figure(summary)
    if figure is not None:
        try:
            save_figure(figure, out / "sweep.png")
        except OSError as exc:  # the runs and results are saved: the figure is redrawn by the next run
            outcome.save_errors.append(f"could not draw {out / 'sweep.png'} ({exc.strerror or exc})")
            figure = None
    if args.json:
        print_json({"out": str(out), **summary})
    else:
        print(table(summary))
        best = summary["best"]
        if best is not None:
            chosen = ", ".join(f"{k}={setting_label(v)}" for k, v in best["settings"].items())
            chosen = chosen or "the one configuration"
            print(
                f"\nbest on validation: {chosen} (validation {_cell(best['val_accuracy'])}%, "
                f"test {_cell(best['test_accuracy'])}%)"
            )
        elif not outcome.records:
            print("\nno run finished: no best configuration (the errors are below)")
        else:
            print(
                "\nno validation split (validation_size=0): no best configuration is chosen (never on test)"
            )
        done = len(outcome.records)
        print(
            f"{outcome.trained} runs trained now, {done - outcome.trained} were done already; "
            f"results.json{', sweep.png' * (figure is not None)} and runs/ in {out}"
        )
    for failure in summary["failed"]:
        print(
            f"digitnet sweep: run {failure['key']} (seed {failure['seed']}, {failure['settings']}) failed "
            f"after {args.retries + 1} tries: {failure['error']}",
            file=sys.stderr,
        )
    for worker, error in outcome.shunned.items():
        print(
            f"digitnet sweep: worker {worker} failed every run it was given ({error}); it was given no "
            "more, and its runs went to the other workers",
            file=sys.stderr,
        )
    for error in outcome.save_errors:
        print(f"digitnet sweep: {error}", file=sys.stderr)
    if outcome.rescued:
        print(
            f"digitnet sweep: {len(outcome.rescued)} trained run(s) are in rescue folders, not in "
            f"{out / 'runs'}: move the files of each into {out / 'runs'}/KEY (its run's key, named above) "
            "and run the same sweep again to count them, or it trains them again",
            file=sys.stderr,
        )
    return 1 if summary["failed"] or outcome.save_errors else 0
