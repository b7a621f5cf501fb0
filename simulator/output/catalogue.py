"""The metric catalogue as people see it: tables' order, display units and formatting.

Every metric is defined once, in :mod:`simulator.engine.catalogue` (label, unit,
direction, the table flags, how it is derived): this module re-exports those
entries in the order tables show them and formats their values.  Everything that
shows a metric to a person (the run table, sweep and plan tables, plots, reports)
and everything that reasons about one (SLO parsing, "is this a fraction?") reads it.
``tests/test_catalogue.py`` checks that it covers every metric a run emits.

Units are base units: ``s`` seconds, ``B`` bytes, ``B/s``, ``fraction`` (of 1,
shown as percent), ``$`` dollars, ``/s`` a rate, ``J`` joules and ``""`` a count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from simulator.engine.catalogue import ENTRIES, Metric

__all__ = ["CATALOGUE", "KEY_METRICS", "Metric", "describe", "display_scale", "format_metric", "format_value",
           "label_of", "table_metrics", "unit_of"]


def _display_order(entries: Iterable[Metric]) -> tuple[Metric, ...]:
    """``entries`` in emission order, each with a ``shown_after`` moved right after that metric."""
    shown: list[Metric] = [m for m in entries if m.shown_after is None]
    for m in entries:
        if m.shown_after is not None:
            at = next(i for i, other in enumerate(shown) if other.name == m.shown_after)
            shown.insert(at + 1, m)
    return tuple(shown)


_ALL: tuple[Metric, ...] = _display_order(ENTRIES)

CATALOGUE: dict[str, Metric] = {m.name: m for m in _ALL}
"""Every metric by name, in the order tables show them."""

KEY_METRICS: list[str] = [m.name for m in _ALL if m.key]
"""Drawn after every sweep and shown first in reports."""


def table_metrics(rows: Iterable[Mapping[str, float]]) -> list[str]:
    """The columns of a key-metric table over ``rows`` (a run's metrics, or sweep rows):
    the key metrics, plus each :attr:`Metric.show_when_nonzero` metric that is not 0
    (nor missing) in some row; in catalogue order."""
    rows = list(rows)

    def nonzero(name: str) -> bool:
        return any(isinstance(v := row.get(name), int | float) and v == v and v != 0 for row in rows)

    return [m.name for m in _ALL
            if (m.key and any(m.name in row for row in rows)) or (m.show_when_nonzero and nonzero(m.name))]


def describe(name: str) -> Metric:
    """The catalogue entry; a metric it does not know is shown by its name, as a count."""
    return CATALOGUE.get(name) or Metric(name, name, "", lower_is_better=None)


def unit_of(name: str) -> str:
    """The base unit of ``name`` (``""`` for a count or a metric the catalogue does not know)."""
    return describe(name).unit


def label_of(name: str) -> str:
    """The label tables show for ``name``."""
    return describe(name).label


def display_scale(unit: str, largest: float) -> tuple[float, str]:
    """``(factor, unit label)`` so that values * factor read well (ms, MiB, %, ...)."""
    if unit == "s":
        if 0 < largest < 1e-3:
            return 1e6, "µs"
        return (1e3, "ms") if largest < 1 else (1.0, "s")
    if unit in ("B", "B/s"):
        suffix = "/s" if unit == "B/s" else ""
        for name, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if largest >= factor:
                return 1 / factor, name + suffix
        return 1.0, "B" + suffix
    if unit == "fraction":
        return 100.0, "%"
    return 1.0, unit


def _digits(x: float) -> int:
    x = abs(x)
    if x == 0 or x >= 100:
        return 0 if float(x).is_integer() or x >= 1000 else 1
    return 2 if x >= 1 else 3


def format_value(value: float | None, unit: str, ci: float | None = None) -> str:
    """``12.3 ms ± 0.4``: a value in its display unit; the half-width shares that unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0 and unit == "s" and not ci:
        return "0 s"
    scale, label = display_scale(unit, abs(value))
    if unit == "$":  # cents once there are dollars; a short window's cost needs more
        digits = 2 if abs(value) >= 1 else 4
        text, ci_text = f"${value:,.{digits}f}", f"{ci:,.{digits}f}" if ci is not None else ""
    else:
        digits = _digits(value * scale)
        suffix = "" if not label else (label if label == "%" else f" {label}")
        text = f"{value * scale:,.{digits}f}{suffix}"
        ci_text = f"{ci * scale:,.{digits}f}" if ci is not None else ""
    if ci is not None and not math.isnan(ci):
        return f"{text} ± {ci_text}"
    return text


def format_metric(name: str, value: float | None, ci: float | None = None) -> str:
    """:func:`format_value` in ``name``'s unit."""
    return format_value(value, unit_of(name), ci)
