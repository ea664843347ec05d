"""``digitnet experiment NAME``: run one of the experiments that test the explainers' claims."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from digitnet.cli.options import add_data_option, integer, output_folder
from digitnet.cli.output import format_table, print_json
from digitnet.cli.outputs import claimed_output_dir, rescue_dir
from digitnet.data import find_mnist_dir
from digitnet.errors import OutputError
from digitnet.sweeps.backends import SCHEDULER_VARIABLE


def add_parser(commands) -> None:
    p = commands.add_parser(
        "experiment",
        help="run an experiment that tests a claim of the explainers (--list shows them)",
        description="Run an experiment: it trains what it needs, writes PNG figures, results.json and "
        "summary.txt into --out (checked writable before it starts), and prints the summary. --quick "
        "runs a small version in seconds.",
    )
    p.add_argument("name", metavar="NAME", nargs="?", help="the experiment to run (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--quick", action="store_true", help="a small, fast version (fewer images, epochs, seeds)")
    p.add_argument(
        "--seed", type=integer("--seed"), default=0, metavar="N", help="base seed of everything random"
    )
    p.add_argument(
        "--out", type=output_folder, metavar="DIR", help="output folder (default: runs/experiments/NAME)"
    )
    add_data_option(p)
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=os.environ.get(SCHEDULER_VARIABLE) or None,
        help="train on this Dask cluster, e.g. tcp://10.0.0.5:8786, where an experiment trains many "
        f"networks at once (canon) (default: ${SCHEDULER_VARIABLE}; unset: this machine's cores)",
    )
    p.add_argument(
        "--processes",
        type=integer("--processes", 1),
        metavar="N",
        help="trainings at once on this machine, where the experiment trains many (default: one per core)",
    )
    p.add_argument("--json", action="store_true", help="print results.json's content on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from digitnet.experiments import EXPERIMENTS, Lab, run_experiment

    table = format_table(
        ("experiment", "what it shows"),
        [(n, e.description) for n, e in sorted(EXPERIMENTS.items())],
        align="<<",
    )
    if args.list:
        print(table)
        return 0
    if not args.name:
        print(
            "digitnet experiment: error: name the experiment to run, e.g. `digitnet experiment vanishing "
            f"--quick`. The experiments:\n\n{table}",
            file=sys.stderr,
        )
        return 2
    if args.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {args.name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    find_mnist_dir(args.data)  # a bad $DIGITNET_DATA is refused before any folder is made
    out = Path(args.out) if args.out else Path("runs") / "experiments" / args.name
    with claimed_output_dir(out):  # a failed experiment leaves no empty folder behind
        lab = Lab(
            args.name,
            out,
            quick=args.quick,
            seed=args.seed,
            data_dir=args.data,
            progress=not args.no_progress,
            scheduler=args.scheduler,
            processes=args.processes,
            rescue=lambda: rescue_dir("experiment"),
        )
        run_experiment(args.name, lab)
        if args.json:
            print_json(
                {
                    "experiment": args.name,
                    "out": str(lab.out),
                    "results": lab.results,
                    "figures": [str(p) for p in lab.figures],
                }
            )
        else:
            print("\n".join(lab.lines))
            print(f"\nfigures, results.json and summary.txt in {lab.out}")
        if lab.rescued_from is not None:
            raise OutputError(
                f"could not write in {lab.rescued_from} ({lab.rescue_reason}); wrote the figures, "
                f"results.json and summary.txt in {lab.out} instead: move them where you want them"
            )
    return 0
