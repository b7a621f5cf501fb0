"""Stopping a run once a ceiling on one of its metrics is already broken.

``sim plan`` simulates fleets that fail; a fleet that refuses a connection, or
whose busy time already passes its CPU target, fails whatever happens in the
rest of the run.  :func:`watcher` builds a ``watch(sim)`` for
:func:`simulator.engine.runner.run`, called about every 1 % of simulated time;
it raises :class:`RunStopped` when a ceiling is broken for certain.

Only metrics whose value so far is a lower bound of the final value are watched
(counters and peaks that never decrease inside the measured window); a watched
run that is not stopped gives the same metrics as an unwatched one.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine.metrics import node_cpu
from simulator.engine.simulation import Simulation

_OPS = {"<=": operator.le, "<": operator.lt}


def _refused(sim: Simulation) -> float:
    return float(sim.metrics.connections_refused)


def _lost(sim: Simulation) -> float:
    return float(sim.metrics.lost)


def _connections_peak(sim: Simulation) -> float:
    return float(sim.metrics.connections_peak)


def _memory_peak_per_node(sim: Simulation) -> float:
    s = sim.config.server
    return s.memory_base + s.memory_per_connection * max(sim.metrics.node_connections_peak, default=0)


def _static(sim: Simulation) -> bool:
    return not sim.cluster.dynamic


def _cpu_utilization(sim: Simulation) -> float:
    # busy seconds recorded so far (a request's service is recorded when it is queued) over
    # the window's whole capacity: the final utilisation can only be higher
    s = sim.config.server
    capacity = s.workers * s.nodes * (sim.t_end - sim.t_start)
    busy = sum(sim.metrics.busy_measured) / capacity if capacity > 0 else 0.0
    # idle CPU (server.idle_cpu) counts while the nodes are up, so not during the crashes
    up = 1.0 - sim.cluster.crash_seconds(sim.t_start, sim.t_end) / (s.nodes * (sim.t_end - sim.t_start)) if capacity > 0 else 1.0
    return node_cpu(busy, s.idle_cpu, up)


def _memory_peak(sim: Simulation) -> float:
    s = sim.config.server
    return s.memory_base * s.nodes + s.memory_per_connection * sim.metrics.connections_peak


#: metric -> (its value so far, a lower bound of the final one; when that holds for the run).
LOWER_BOUNDS: dict[str, tuple[Callable[[Simulation], float], Callable[[Simulation], bool]]] = {
    "connections.refused": (_refused, lambda sim: True),
    "deliveries.lost": (_lost, lambda sim: True),
    "connections.peak": (_connections_peak, lambda sim: True),
    "server.memory_peak_per_node": (_memory_peak_per_node, lambda sim: True),
    "server.cpu_utilization": (_cpu_utilization, _static),
    "server.memory_peak": (_memory_peak, _static),
}


@dataclass(frozen=True)
class Ceiling:
    """``metric op limit`` with ``op`` one of ``<=``, ``<``: broken once the lower bound passes it."""

    metric: str
    op: str
    limit: float

    def broken_by(self, value: float) -> bool:
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
            value_of, applies = LOWER_BOUNDS[ceiling.metric]
            if not applies(sim):
                continue
            value = bounds[ceiling.metric] = value_of(sim)
            if ceiling.broken_by(value):
                broken.append(ceiling.metric)
        if broken:
            raise RunStopped(sim.env.now, bounds, broken)

    return watch
