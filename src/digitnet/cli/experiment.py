"""``digitnet experiment NAME``: run one of the experiments that test the explainers' claims."""

from __future__ import annotations

from pathlib import Path

from digitnet.cli.output import format_table, print_json


def add_parser(commands) -> None:
    p = commands.add_parser(
        "experiment",
        help="run an experiment that tests a claim of the explainers (--list shows them)",
        description="Run an experiment: it trains what it needs, writes PNG figures, results.json and "
        "summary.txt into --out, and prints the summary. --quick runs a small version in seconds.",
    )
    p.add_argument("name", metavar="NAME", nargs="?", help="the experiment to run")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--quick", action="store_true", help="a small, fast version (fewer images, epochs, seeds)")
    p.add_argument("--seed", type=int, default=0, help="base seed of everything random")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/experiments/NAME)")
    p.add_argument(
        "--data", metavar="DIR", help="folder with the MNIST files (default: $DIGITNET_DATA, then the cache)"
    )
    p.add_argument("--json", action="store_true", help="print results.json's content on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from digitnet.experiments import EXPERIMENTS, Lab, run_experiment

    if args.list or not args.name:
        rows = [(name, e.description) for name, e in sorted(EXPERIMENTS.items())]
        print(format_table(("experiment", "what it shows"), rows, align="<<"))
        return 0 if args.list else 2
    out = Path(args.out) if args.out else Path("runs") / "experiments" / args.name
    lab = Lab(
        args.name, out, quick=args.quick, seed=args.seed, data_dir=args.data, progress=not args.no_progress
    )
    run_experiment(args.name, lab)
    if args.json:
        print_json({"experiment": args.name, "out": str(out), "results": lab.results,
                    "figures": [str(p) for p in lab.figures]})  # fmt: skip
    else:
        print("\n".join(lab.lines))
        print(f"\nfigures, results.json and summary.txt in {out}")
    return 0
