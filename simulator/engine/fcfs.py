"""A first-come-first-served pool of ``workers`` servers, computed in virtual time.

Work arriving at ``t`` starts at ``max(t, earliest free worker)`` and holds that
worker for its cost.  When arrivals reach the pool in time order (each is one
SimPy event), this is exactly a FCFS multi-server queue, without a SimPy event
for the queue entry, the service start or the release: the caller learns the
finish time at once.  A server node (:class:`simulator.engine.node.ServerNode`) and
each webhook receiver (:class:`simulator.engine.receiver.ReceiverPool`) are one.
"""

from __future__ import annotations

import heapq
import math


class FcfsPool:
    """``workers`` servers taking work first come, first served (seconds)."""

    __slots__ = ("workers", "free")

    def __init__(self, workers: int):
        self.workers = workers
        self.free = [0.0] * workers  # heap of the times each worker becomes free

    def serve(self, arrival: float, cost: float, until: float = math.inf) -> tuple[float, float]:
        """Queue ``cost`` seconds of work arriving at ``arrival``: its ``(start, finish)``.

        ``until`` is when the pool stops (a crash): work not finished by then holds
        its worker only until then, and work that would start later takes none.
        """
        free = self.free
        earliest = free[0]
        start = arrival if arrival > earliest else earliest
        finish = start + cost
        if finish < until:
            heapq.heapreplace(free, finish)
        elif start < until:
            heapq.heapreplace(free, until)
        return start, finish

    def backlog(self, now: float) -> float:
        """Seconds until a worker is free (0 if one is idle now)."""
        return max(0.0, self.free[0] - now)

    def reset(self, free_at: float) -> None:
        """Every worker is free from ``free_at`` on (a crash lost the queue)."""
        self.free = [free_at] * self.workers
