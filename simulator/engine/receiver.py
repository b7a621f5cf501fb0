"""Webhook receivers: each a small FCFS worker pool in virtual time, and their outages.

A webhook's clients are receiving backends.  Each has ``workers`` workers
(``receiver_workers``) that take POSTs first come, first served: the same
virtual-time pool as a server node's (:class:`simulator.engine.fcfs.FcfsPool`).
Arrivals must reach :meth:`ReceiverPool.process` in time order (each is one
SimPy event).  An idle receiver is one float (when its last POST finishes):
a POST that finds every worker free needs nothing more, since free times in
the past never matter again; a worker heap exists only while a receiver's
POSTs overlap, so a million receivers cost 8 bytes each, not an object each.

``receiver_outage`` failures (``fraction``, ``at``, ``duration``) pick
``round(fraction * receivers)`` receivers with a stream seeded by the
experiment seed and the failure's index; those refuse every connection in
``[at, at + duration)``.  Work already queued at a receiver when its outage
starts is still processed (the outage refuses new connections only).
"""

from __future__ import annotations

import numpy as np

from simulator.config import FailureSpec
from simulator.engine.fcfs import FcfsPool
from simulator.engine.randomness import RandomStreams


class ReceiverPool:
    """``count`` receivers, ``workers`` workers each (seconds)."""

    def __init__(self, count: int, workers: int):
        self.count = count
        self.workers = workers
        self._done = [0.0] * count  # when each receiver's last POST is processed
        self._pools: dict[int, FcfsPool] = {}  # receivers whose POSTs overlap
        self._outages: list[tuple[float, float, list[bool]]] = []  # (start, end, down mask)

    def process(self, receiver: int, arrival: float, cost: float) -> float:
        """Queue a POST costing ``cost`` seconds arriving at ``arrival``; when it is processed."""
        pool = self._pools.get(receiver)
        if pool is None:
            done = self._done[receiver]
            if arrival >= done:  # every worker free: it starts at once
                self._done[receiver] = finish = arrival + cost
                return finish
            # overlapping: the last POST's worker busy until `done`, the others free
            pool = self._pools[receiver] = FcfsPool(self.workers)
            pool.free[-1] = done
        finish = pool.serve(arrival, cost)[1]
        busy = [f for f in pool.free if f > arrival]
        if len(busy) <= 1:  # only this POST's worker busy: back to one float
            del self._pools[receiver]
        self._done[receiver] = max(busy) if busy else arrival
        return finish

    # -- outages -------------------------------------------------------------------
    def add_outages(self, failures: list[FailureSpec], streams: RandomStreams) -> None:
        """Register the ``receiver_outage`` entries of ``failures`` (others are ignored)."""
        for i, f in enumerate(failures):
            if f.kind != "receiver_outage":
                continue
            rng = streams.generator(f"receiver_outage.{i}")
            k = int(round(f.fraction * self.count))
            mask = np.zeros(self.count, dtype=bool)
            mask[rng.choice(self.count, size=k, replace=False)] = True
            self._outages.append((f.at, f.at + f.duration, mask.tolist()))

    def down(self, receiver: int, t: float) -> bool:
        """Whether ``receiver`` refuses connections at ``t``."""
        for start, end, mask in self._outages:
            if start <= t < end and mask[receiver]:
                return True
        return False

    def down_count(self, t: float) -> int:
        """How many receivers refuse connections at ``t``."""
        down = np.zeros(self.count, dtype=bool)
        for start, end, mask in self._outages:
            if start <= t < end:
                down |= np.asarray(mask)
        return int(down.sum())
