"""Tables that fit the terminal: too wide, they split into parts that repeat the key columns.

Rich shrinks a table wider than the console by folding cells mid-word or
dropping columns off the edge (and a pipe is 80 columns wide).  Here a cell
wraps only between words, each column is at least as wide as its longest word,
and when the columns do not fit side by side the table is printed as several
tables, each with the key columns (say mechanism and clients) and as many of
the others as fit.  Nothing is ever cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

#: A column wider than this wraps its text between words (a long note) rather than claim the line.
WRAP_WIDTH = 28
#: Rich's default table: one border left, and per column two spaces of padding plus a rule.
_EDGE, _PER_COLUMN = 1, 3


@dataclass(frozen=True)
class Column:
    """A column of a terminal table: its header, justification, and whether it repeats when split."""
    header: str
    justify: str = "right"
    #: Repeated in every part when the table is split.
    key: bool = False


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _budget(column: Column, cells: list[str]) -> tuple[int, int]:
    """``(minimum, planned)`` width: never below the longest word; long text wraps at WRAP_WIDTH."""
    minimum = max([_longest_word(column.header), *(_longest_word(c) for c in cells)])
    natural = max([cell_len(column.header), *(cell_len(c) for c in cells)])
    return minimum, max(minimum, min(natural, WRAP_WIDTH))


def split_columns(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[list[int]]:
    """Column indices of each part: the key columns, then as many others as fit in ``width``."""
    widths = [_budget(c, [str(r[i]) for r in rows])[1] + _PER_COLUMN for i, c in enumerate(columns)]
    keys = [i for i, c in enumerate(columns) if c.key]
    others = [i for i, c in enumerate(columns) if not c.key]
    base = _EDGE + sum(widths[i] for i in keys)
    parts: list[list[int]] = []
    current: list[int] = []
    used = base
    for i in others:
        if current and used + widths[i] > width:
            parts.append(current)
            current, used = [], base
        current.append(i)
        used += widths[i]
    if current or not parts:
        parts.append(current)
    return [keys + part for part in parts]


def print_table(
    console: Console,
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
) -> None:
    """Print ``rows`` (cells as text) under ``columns``, split into parts when too wide."""
    width = console.width
    parts = split_columns(columns, rows, width)
    for number, part in enumerate(parts, 1):
        suffix = f" ({number}/{len(parts)})" if len(parts) > 1 else ""
        table = Table(title=(title or "") + suffix if title or suffix else None, header_style="bold")
        needed = _EDGE
        for i in part:
            column = columns[i]
            minimum, planned = _budget(column, [str(r[i]) for r in rows])
            needed += minimum + _PER_COLUMN
            table.add_column(column.header, justify=column.justify, min_width=minimum,
                             max_width=planned, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[i]) for i in part))
        if needed > width:  # one very wide column: printed whole (the terminal wraps it), not cut
            table.width = needed
        console.print(table, crop=False)


def delivery_note(metrics: dict) -> str | None:
    """One line when a run delivered nothing, so its empty latencies ("—") are not read as 0."""
    delivered = metrics.get("deliveries.delivered")
    if delivered is None or delivered > 0:
        return None
    owed = metrics.get("deliveries.owed", 0) or 0
    if owed <= 0:
        return "nothing was owed in the measured window, so nothing was delivered: the latencies have no value (—)"
    lost, pending = metrics.get("deliveries.lost", 0) or 0, metrics.get("deliveries.pending", 0) or 0
    return (f"nothing was delivered: {owed:,.0f} owed, {lost:,.0f} lost, {pending:,.0f} still pending at the end"
            " (a longer experiment.drain or a shorter interval would deliver them); the latencies have no value (—)")

