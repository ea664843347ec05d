"""``digitnet data``: which folder digitnet reads MNIST from, what it holds, and fetching the files."""

from __future__ import annotations

import sys

import digitnet.data.download as download
from digitnet.cli.options import data_folder
from digitnet.cli.output import error_line, format_table, print_json
from digitnet.data.download import MNIST_FILES
from digitnet.data.folders import missing_mnist_files, mnist_sources
from digitnet.errors import DataError

SOURCES = {"data_dir": "--data", "DIGITNET_DATA": "$DIGITNET_DATA", "cache": "per-user cache"}


def add_parser(commands) -> None:
    p = commands.add_parser(
        "data",
        help="show which folder the MNIST files are read from, or download them",
        description="Show the folder the four MNIST files are read from: --data if given, else "
        "$DIGITNET_DATA if set, else the per-user cache, and what it holds. A folder you name must exist "
        "and is never passed over for the next one. With --download, fetch the missing files into that "
        "folder, verifying their checksums; only the per-user cache is created if needed.",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        type=data_folder(require_files=False),
        help="an existing folder to use instead of $DIGITNET_DATA and the per-user cache",
    )
    p.add_argument("--download", action="store_true", help="download the files the folder lacks")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.set_defaults(run=run)


def run(args) -> int:
    sources = mnist_sources(args.data)
    source, folder = sources[0]
    missing, problem = _state(folder, source)
    if missing and args.download:
        try:
            # A named folder exists by now (checked above); the cache is created. MIRRORS is looked up
            # now, so tests can point it at a local server.
            download.download_mnist(folder, mirrors=download.MIRRORS, files=missing)
        except DataError as exc:
            problem = exc
        missing, again = _state(folder, source)
        problem = problem or again
    rows = []
    for i, (src, path) in enumerate(sources):
        held = None
        if i == 0 and missing is not None:
            held = len(MNIST_FILES) - len(missing)
        elif i > 0:
            held = _count(path)
        rows.append(
            (str(path), SOURCES[src], "?" if held is None else held, "used" if i == 0 else "not used")
        )
    found = str(folder) if missing == [] else None
    if args.json:
        print_json(
            {
                "found": found,
                "used": str(folder),
                "error": str(problem) if problem else None,
                "searched": [
                    {"folder": r[0], "named_by": r[1], "files": r[2] if r[2] != "?" else None} for r in rows
                ],
            }
        )
    else:
        print(format_table(("folder", "named by", "MNIST files", ""), rows, align="<<><"))
        if missing:
            fetch = "digitnet data --download" + (f" --data {args.data}" if args.data else "")
            print(
                f"\n{folder} lacks {', '.join(missing)}.\nRun `{fetch}`, or put the four files there"
                + ("." if args.data else ", or set DIGITNET_DATA to a folder that holds them.")
            )
    if problem is not None:
        print(error_line("data", problem), file=sys.stderr)
    return 0 if found else 1


def _state(folder, source: str) -> tuple[list[str] | None, DataError | None]:
    """The files the used folder lacks (None if it cannot be told), and the error that says why not."""
    try:
        return missing_mnist_files(folder, "--data" if source == "data_dir" else source), None
    except DataError as exc:
        return None, exc


def _count(folder) -> int | None:
    """How many MNIST files a folder not used holds, or None if it cannot be told."""
    try:
        return len(MNIST_FILES) - len(missing_mnist_files(folder, "cache"))
    except DataError:
        return None
