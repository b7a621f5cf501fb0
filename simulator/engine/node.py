"""A server node: a pool of workers, an open-connection table, memory.

The workers are a first-come-first-served pool in virtual time
(:class:`simulator.engine.fcfs.FcfsPool`): the caller learns a request's
finish time at once and sleeps until then, or further, fused with the next
deterministic delay.

``server.idle_cpu`` takes a share of every worker's core whatever the traffic:
the one place cost becomes service time (:meth:`ServerNode.process`,
:meth:`ServerNode.process_many`) stretches it by ``1 / (1 - idle_cpu)``.

A crash is known in advance (failures are part of the config), so work that
would finish after the node's next crash is reported lost at arrival.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np

from simulator.config.distributions import Sampler
from simulator.engine.fcfs import FcfsPool
from simulator.engine.metrics import Metrics


class ServerNode(FcfsPool):
    """One node of the cluster: its worker pool, connections and crashes (seconds, bytes)."""

    def __init__(
        self,
        index: int,
        workers: int,
        max_connections: int,
        request_cost: Sampler,
        message_cost: Sampler,
        metrics: Metrics,
        idle_cpu: float = 0.0,
    ):
        super().__init__(workers)
        self.index = index
        self.max_connections = max_connections
        self.request_cost = request_cost
        self.message_cost = message_cost
        self.metrics = metrics
        # the workers get (1 - idle_cpu) of their cores: work takes 1 / (1 - idle_cpu) longer
        self.stretch = 1.0 / (1.0 - idle_cpu)
        self.connections = 0
        # TCP connections each client's attempt takes (its tabs on HTTP/1.1); 1 otherwise
        self.connections_per_client = 1
        self.up = True
        self.epoch = 0  # bumped at every crash: connections opened before are gone
        self.next_crash = math.inf
        self.crash_listeners: list[Callable[[ServerNode, float], None]] = []

    # -- CPU -------------------------------------------------------------
    def process(self, arrival: float, cost: float) -> float:
        """Queue ``cost`` seconds of work arriving at ``arrival``; its finish time, or -1 if lost.

        Lost means the node crashes before the work finishes (the queue dies with it).
        Work that starts before the crash still holds its worker, and burns CPU, until then.
        """
        if self.stretch != 1.0:
            cost *= self.stretch
        crash = self.next_crash
        start, finish = self.serve(arrival, cost, crash)
        m = self.metrics
        if finish >= crash:
            if start < crash:
                if m.t_start <= arrival <= m.t_end:
                    m.queue_wait.add(start - arrival)
                m.busy(self.index, start, crash)
            return -1.0
        if m.t_start <= arrival <= m.t_end:
            m.queue_wait.add(start - arrival)
        m.busy(self.index, start, finish)
        return finish

    def process_many(self, arrival: float, costs: np.ndarray) -> np.ndarray:
        """Queue a burst of ``len(costs)`` writes arriving together; their finish times.

        The burst is spread over the workers in the order they become free
        (message k to worker k mod c), which is exactly FCFS when the costs are
        equal and a close approximation otherwise.  Finish times past the next
        crash are returned as -1 (lost).
        """
        n = len(costs)
        if n == 0:
            return np.empty(0)
        if self.stretch != 1.0:
            costs = costs * self.stretch
        workers = sorted(self.free)
        c = min(self.workers, n)
        finish = np.empty(n)
        m = self.metrics
        measured = m.t_start <= arrival <= m.t_end
        waits = []
        for j in range(c):
            start = arrival if arrival > workers[j] else workers[j]
            ends = start + np.cumsum(costs[j::c])
            finish[j::c] = ends
            if measured:
                waits.append(np.concatenate(([start], ends[:-1])) - arrival)
            busy_until = float(ends[-1])
            m.busy(self.index, start, min(busy_until, self.next_crash))  # no CPU once it is down
            workers[j] = busy_until
        if waits:  # one histogram update per burst, not one per worker
            m.queue_wait.add_many(np.concatenate(waits))
        self.free = workers
        heapq.heapify(workers)
        if self.next_crash < math.inf:
            finish[finish >= self.next_crash] = -1.0
        return finish

    # -- connections -------------------------------------------------------
    def open(self, t: float) -> bool:
        """Open a connection at ``t``; False (refused) if the node is down or full."""
        m = self.metrics
        k = self.connections_per_client
        if not self.up or self.connections + k > self.max_connections:
            m.connection_refused(t)
            return False
        self.connections += k
        if m.t_start <= t <= m.t_end:  # Metrics.connection_opened, k times, inlined (hot at cold starts)
            m.connections_opened += k
        m.connections_changed(t, k, self.index, self.connections)
        return True

    def close(self, t: float, epoch: int) -> None:
        """Close a connection opened in ``epoch`` (a no-op if a crash already dropped it)."""
        if epoch == self.epoch:
            k = self.connections_per_client
            self.connections -= k
            self.metrics.connections_changed(t, -k, self.index, self.connections)

    def crash(self, t: float, until: float, next_crash: float) -> None:
        """Go down at ``t`` until ``until``: drop every connection, lose all queued work."""
        dropped = self.connections
        self.up = False
        self.epoch += 1
        self.connections = 0
        self.metrics.connections_changed(t, -dropped, self.index, 0)
        self.metrics.connections_lost(t, dropped)
        self.reset(until)
        self.next_crash = next_crash
        for listener in self.crash_listeners:
            listener(self, t)

    def recover(self) -> None:
        """Back up after a crash: accepts connections and work again."""
        self.up = True

    # -- joining and leaving the fleet ------------------------------------
    def boot(self, t: float, next_crash: float) -> None:
        """A fresh node in this slot from ``t``: empty, idle workers (connections of a former one are gone)."""
        self.up = True
        self.epoch += 1
        self.connections = 0
        self.reset(t)
        self.next_crash = next_crash

    def retire(self, t: float) -> None:
        """Leave the fleet at ``t`` (the end of a drain): what is still open is closed.

        Not a crash: the connections closed here count as ``connections.drained``;
        the mechanisms' crash listeners send their clients elsewhere.
        """
        closed = self.connections
        self.up = False
        self.epoch += 1
        self.connections = 0
        self.metrics.connections_changed(t, -closed, self.index, 0)
        self.metrics.connections_drain(t, closed)
        self.reset(t)
        self.next_crash = math.inf
        for listener in self.crash_listeners:
            listener(self, t)
