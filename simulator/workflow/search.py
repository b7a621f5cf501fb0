"""The search over the node count, the pilot's size, and plan runs that stop early.

:class:`NodeSearch` finds the fewest passing size from a first guess (the floor,
or a pilot's estimate, :mod:`simulator.workflow.slo`); :func:`execute` runs a
round of candidate fleets on the sweep executor, each stopped once it breaks a
limit for certain (``engine/early_stop.py``).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.config import ExperimentConfig
from simulator.engine.early_stop import Ceiling, RunStopped, watcher
from simulator.engine.runner import run
from simulator.workflow.grid import Task, run_task
from simulator.workflow.sweep import execute as sweep_execute

#: From this many clients a plan first simulates a pilot: the same config with 1/PILOT_SCALE
#: of the clients (on a few nodes), whose per-node loads, scaled linearly, give the first guess.
PILOT_MIN_CLIENTS = 20_000
PILOT_SCALE = 50


def pilot_size(config: ExperimentConfig, scale: int = PILOT_SCALE) -> tuple[int, int]:
    """``(clients, nodes)`` of a pilot: 1/scale of the clients on at least 2 nodes (so a
    cluster's shared-state cost shows), each node at most half full of connections."""
    clients = max(1, math.ceil(config.clients.count / scale))
    return clients, max(2, math.ceil(2 * clients / config.server.max_connections))

#: The "size" of a pilot run in a plan's bookkeeping.
PILOT = -1


# ---------------------------------------------------------------------------
# Early stop of a failing fleet

#: Set in the metrics of a run stopped early (simulated seconds): its other metrics are
#: only the values so far of the limits it broke.
STOPPED_AT = "plan.stopped_at"



@dataclass(frozen=True)
class PlanTask(Task):
    """A run of a candidate fleet, stopped once it breaks one of ``ceilings`` for certain."""

    ceilings: tuple[Ceiling, ...] = ()


def run_plan_task(task: Task) -> dict[str, Any]:
    """:func:`simulator.workflow.grid.run_task`, watched: a run stopped early is ``ok`` with
    the values so far of what it broke, and :data:`STOPPED_AT`."""
    ceilings = getattr(task, "ceilings", ())
    if not ceilings:
        return run_task(task)
    started = time.perf_counter()
    record: dict[str, Any] = {"point": task.point, "replication": task.replication, "seed": task.seed,
                              "key": task.key()}
    try:
        result = run(task.config(), watch=watcher(list(ceilings)))
    except RunStopped as stop:
        record.update(status="ok", metrics={**stop.bounds, STOPPED_AT: stop.at},
                      wall_seconds=time.perf_counter() - started)
        return record
    except Exception as exc:  # recorded like run_task does, and the plan goes on
        record.update(status="error", error=f"{type(exc).__name__}: {exc}".strip(),
                      traceback=traceback.format_exc(limit=8), wall_seconds=time.perf_counter() - started)
        return record
    record.update(status="ok", metrics=result.metrics, wall_seconds=time.perf_counter() - started,
                  events=result.run.get("events_processed", 0))
    return record


def execute(tasks: list[Task], workers: int, scheduler: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    """The sweep executor, with plan runs that stop early (:func:`run_plan_task`)."""
    sweep_execute(tasks, workers, scheduler, emit, func=run_plan_task)


# ---------------------------------------------------------------------------
# The search over the node count


class NodeSearch:
    """The fewest passing node count in [1, max_nodes]: from a first guess, doubling, then bisection.

    Feed it with :meth:`feed`; :meth:`next` says which size to simulate next
    (None when done).  When the guess passes, the size one below is tried
    next, so a good guess costs two runs.

    ``gallop`` (for a guess close to the answer, from a pilot run) steps away
    from the guess by 1, 2, 4, ... nodes, up while it fails and down while it
    passes, then bisects: an answer ``d`` nodes from the guess costs about
    ``2 log2(d) + 2`` runs instead of ``log2(guess)``.
    """

    def __init__(self, floor: int, max_nodes: int, gallop: bool = False):
        self.max_nodes = max_nodes
        self.probe: int | None = max(1, min(floor, max_nodes))
        self.low = 0  # largest size known to fail (0: none)
        self.high: int | None = None  # smallest size known to pass
        self.passed: dict[int, bool] = {}
        self.gallop = gallop
        self.step = 1  # the next galloping step

    @property
    def done(self) -> bool:
        """Whether the search has its answer (or found none up to ``max_nodes``)."""
        return self.probe is None

    @property
    def nodes(self) -> int | None:
        """The fewest passing size, once done (None: none up to ``max_nodes``)."""
        return self.high if self.done else None

    def next(self) -> int | None:
        """The size to simulate next (None when done)."""
        return self.probe

    def feed(self, nodes: int, passed: bool) -> None:
        """Record that ``nodes`` nodes passed or failed, and choose the next size."""
        self.passed[nodes] = passed
        if passed:
            self.high = nodes if self.high is None else min(self.high, nodes)
        else:
            self.low = max(self.low, nodes)
        if self.high is None:  # still looking for a size that passes
            if self.low >= self.max_nodes:
                self.probe = None
            elif self.gallop:
                self.probe = min(self.max_nodes, self.low + self.step)
                self.step *= 2
            else:
                self.probe = min(self.max_nodes, max(1, self.low * 2))
        elif self.high - self.low <= 1:
            self.probe = None
        elif self.gallop and self.low == 0:  # every size tried passed: walk down from the guess
            self.probe = max(1, self.high - self.step)
            self.step *= 2
        elif len(self.passed) == 1:
            self.probe = self.high - 1  # the first guess passed: is it the fewest?
        else:
            self.probe = (self.low + self.high) // 2

    def remaining(self) -> int:
        """About how many more runs this search needs (for the progress estimate)."""
        if self.done:
            return 0
        if self.gallop:  # the guess is close: one more size, about
            return 1 if self.high is None or self.low > 0 else 2
        if self.high is None:  # one more size, then bisection between it and the one before
            return 2 if self.low == 0 else 1 + math.ceil(math.log2(max(2, self.low)))
        return max(1, math.ceil(math.log2(max(2, self.high - self.low))))
