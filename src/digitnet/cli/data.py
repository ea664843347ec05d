"""``digitnet data``: where digitnet looks for MNIST, what it finds, and fetching it."""

from __future__ import annotations

from digitnet.cli.output import format_table, print_json
from digitnet.data import download_mnist, find_mnist_dir, mnist_search_path
from digitnet.data.download import MNIST_FILES


def add_parser(commands) -> None:
    p = commands.add_parser(
        "data",
        help="show where the MNIST files are looked for, or download them",
        description="Show the folders searched for the four MNIST files, in order (--data, then "
        "$DIGITNET_DATA, then the per-user cache), and which one is used. With --download, fetch any "
        "missing files into the first of them, verifying their checksums.",
    )
    p.add_argument("--data", metavar="DIR", help="an explicit folder to look in first")
    p.add_argument("--download", action="store_true", help="download the files if no folder has them")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.download and find_mnist_dir(args.data) is None:
        download_mnist(mnist_search_path(args.data)[0])
    found = find_mnist_dir(args.data)
    folders = mnist_search_path(args.data)
    rows = [
        (str(d), sum((d / f).is_file() for f in MNIST_FILES), "used" if d == found else "") for d in folders
    ]
    if args.json:
        print_json({"found": str(found) if found else None,
                    "searched": [{"folder": r[0], "files": r[1]} for r in rows]})  # fmt: skip
    else:
        print(format_table(("folder searched", "MNIST files", ""), rows, align="<><"))
        if found is None:
            print(f"\nno folder holds all four files ({', '.join(MNIST_FILES)}).\n"
                  "Run `digitnet data --download`, or put them in one of the folders above, or set DIGITNET_DATA.")  # fmt: skip
    return 0 if found else 1
