"""From a finished run's measurements to the flat ``metrics`` dict of docs/design.md §5.

Each metric is derived by its entry in :mod:`simulator.engine.catalogue`; this module
evaluates them in order and checks the books.
"""

from __future__ import annotations

from typing import Any

from simulator.engine.catalogue import derive_all
from simulator.engine.simulation import Simulation


class BooksDoNotBalance(RuntimeError):
    """owed != delivered + lost + pending: the model lost track of a delivery."""


def build_metrics(sim: Simulation, pending: int) -> dict[str, float]:
    """The run's metrics: flat dotted keys, numbers only (seconds, bytes, dollars), in catalogue order."""
    return {k: _number(v) for k, v in derive_all(sim, pending).items()}


def check_books(metrics: dict[str, float]) -> None:
    """Raise :class:`BooksDoNotBalance` unless owed = delivered + lost + pending."""
    owed = metrics["deliveries.owed"]
    accounted = metrics["deliveries.delivered"] + metrics["deliveries.lost"] + metrics["deliveries.pending"]
    if owed != accounted:
        raise BooksDoNotBalance(
            f"the books do not balance: owed {owed:.0f} != delivered {metrics['deliveries.delivered']:.0f}"
            f" + lost {metrics['deliveries.lost']:.0f} + pending {metrics['deliveries.pending']:.0f}"
        )


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    value = float(value)
    return value
