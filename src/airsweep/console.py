"""Console output shared by the commands: progress lines, table cells and tables."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: Receives one line of progress output (``print`` by default).
Printer = Callable[[str], None]


def cell(value: Any) -> str:
    """A table cell: floats to 4 decimals, ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned text table with a header row (cells by :func:`cell`)."""
    lines = [list(header)] + [[cell(value) for value in row] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
