"""What the commands print: plain tables, percentages and JSON
(the progress bars: :mod:`digitnet.training.progress`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from digitnet.jsonable import plain

__all__ = ["format_table", "percent", "print_json", "printable"]


def printable(text: Any, *, lines: bool = False) -> str:
    """``str(text)`` with control characters written as escapes (``\\x1b``, ``\\r``): text from a model
    file or a file name reaches the terminal as text, never as a command that clears it or sets its title.
    ``lines=True`` keeps newlines, for a message of several lines."""
    text = str(text)
    if lines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def error_line(command: str, message: Any) -> str:
    """``digitnet COMMAND: error: MESSAGE``, every control character in it shown as an escape."""
    return printable(f"digitnet {command}: error: {message}", lines=True)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column (default: text left, numbers right).
    Every cell goes through :func:`printable`."""
    cells = [[printable(c) for c in row] for row in rows]
    if align is None:
        align = "".join(
            ">" if rows and isinstance(rows[0][i], (int, float)) or (cells and _numeric(cells[0][i])) else "<"
            for i in range(len(headers))
        )
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(align, widths))
    lines = [fmt.format(*headers), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*r) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("%", "").replace("-", "").strip().isdigit()


def percent(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def print_json(obj: Any) -> None:
    """One JSON object on stdout (through :func:`digitnet.jsonable.plain`: NaN and infinity as null)."""
    print(json.dumps(plain(obj), indent=None))
