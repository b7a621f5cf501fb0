"""Stopping a run once a ceiling on one of its metrics is already broken.

``sim plan`` simulates fleets that fail; a fleet that refuses a connection, or
whose busy time already passes its CPU target, fails whatever happens in the
rest of the run.  :func:`watcher` builds a ``watch(sim)`` for
:func:`simulator.engine.runner.run`, called about every 1 % of simulated time;
it raises :class:`RunStopped` when a ceiling is broken for certain.

Only metrics whose value so far is a lower bound of the final value are watched
(counters and peaks that never decrease inside the measured window): their
catalogue entries (:mod:`simulator.engine.catalogue`) say so and when, and the
value so far is the entry's own derivation evaluated on the run so far.  A watched
run that is not stopped gives the same metrics as an unwatched one.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine.catalogue import bounded, so_far
from simulator.engine.simulation import Simulation

_OPS = {"<=": operator.le, "<": operator.lt}

#: The metrics a watcher can bound: those whose catalogue entry has a ``lower_bound_when``.
LOWER_BOUNDS: frozenset[str] = bounded()


@dataclass(frozen=True)
class Ceiling:
    """``metric op limit`` with ``op`` one of ``<=``, ``<``: broken once the lower bound passes it."""

    metric: str
    op: str
    limit: float

    def broken_by(self, value: float) -> bool:
        """Whether a lower bound ``value`` of the metric already breaks the ceiling."""
        return not _OPS[self.op](value, self.limit)


class RunStopped(Exception):
    """A watched run stopped at simulated time ``at``: ``bounds`` (metric -> value so far) broke a ceiling."""

    def __init__(self, at: float, bounds: dict[str, float], broken: list[str]):
        super().__init__(f"stopped at {at:g} s: {', '.join(broken)} already broken")
        self.at = at
        self.bounds = bounds
        self.broken = broken


def watchable(ceilings: list[Ceiling]) -> list[Ceiling]:
    """The ceilings a watcher can check (the others are left to the full run)."""
    return [c for c in ceilings if c.metric in LOWER_BOUNDS and c.op in _OPS]


def watcher(ceilings: list[Ceiling]) -> Callable[[Simulation], None]:
    """``watch(sim)``: raises :class:`RunStopped` once a ceiling is broken for certain."""
    watched = watchable(ceilings)

    def watch(sim: Simulation) -> None:
        bounds: dict[str, float] = {}
        broken: list[str] = []
        for ceiling in watched:
            value = so_far(sim, ceiling.metric)
            if value is None:  # not a lower bound in this run (a fleet that changes)
                continue
            bounds[ceiling.metric] = value
            if ceiling.broken_by(value):
                broken.append(ceiling.metric)
        if broken:
            raise RunStopped(sim.env.now, bounds, broken)

    return watch
