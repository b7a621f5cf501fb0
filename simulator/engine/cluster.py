"""The server nodes behind a load balancer, and their failures.

The balancer places each new connection (or each connection-less request):
``round_robin`` cycles through the nodes that are up, ``least_connections``
picks the up node with the fewest open connections (ties in turn), ``hash`` pins a client to
``client % nodes`` and moves it to the next up node while that one is down.

Connections that close at a known future time (an idle keep-alive connection
at ``keep_alive_timeout``) are put in a heap and closed lazily, in time
order, the next time anything looks at the connection counts: no SimPy event
per close.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import simpy

from simulator.config import ExperimentConfig, FailureSpec
from simulator.engine.metrics import Metrics
from simulator.engine.node import ServerNode
from simulator.engine.randomness import RandomStreams


class Cluster:
    """``server.nodes`` nodes, a balancer and the crash schedule."""

    def __init__(
        self,
        env: simpy.Environment,
        config: ExperimentConfig,
        metrics: Metrics,
        streams: RandomStreams,
    ):
        self.env = env
        s = config.server
        self.nodes = [
            ServerNode(
                i,
                s.workers,
                s.max_connections,
                streams.sampler(f"node.{i}.request_cost", s.request_cost),
                streams.sampler(f"node.{i}.message_cost", s.message_cost),
                metrics,
            )
            for i in range(s.nodes)
        ]
        self.metrics = metrics
        self.balancer = config.cluster.balancer
        self.backplane_latency = config.cluster.backplane_latency if s.nodes > 1 else 0.0
        self.store_cost = config.cluster.store_cost if s.nodes > 1 else 0.0
        self._rr = 0
        self._closes: list[tuple[float, int, int, int]] = []  # (time, seq, node, epoch)
        self._close_seq = 0
        self.memory_base = s.memory_base
        self.memory_per_connection = s.memory_per_connection
        crashes = [f for f in config.failures if f.kind == "node_crash"]
        self._crashes = sorted(crashes, key=lambda f: f.at)
        self._down_until = [0.0] * s.nodes  # end of each node's latest crash
        for node in self.nodes:
            node.next_crash = self._next_crash_after(node.index, -1.0)
        if self._crashes:
            env.process(self._inject_crashes())

    # -- placement ------------------------------------------------------------
    def pick(self, client: int) -> ServerNode | None:
        """The node for a new connection or request of ``client``; None if every node is down."""
        nodes = self.nodes
        if len(nodes) == 1:
            return nodes[0] if nodes[0].up else None
        if self.balancer == "hash":
            n = len(nodes)
            for k in range(n):
                node = nodes[(client + k) % n]
                if node.up:
                    return node
            return None
        if self.balancer == "least_connections":
            # Ties go round robin (as nginx's least_conn does): without it, requests that
            # hold no connection (webhook POSTs) or that all find zero open would all go to node 0.
            self.settle(self.env.now)
            n = len(nodes)
            first = self._rr % n
            self._rr += 1
            best = None
            for k in range(n):
                node = nodes[(first + k) % n]
                if node.up and (best is None or node.connections < best.connections):
                    best = node
            return best
        n = len(nodes)
        for _ in range(n):
            node = nodes[self._rr % n]
            self._rr += 1
            if node.up:
                return node
        return None

    # -- connections ----------------------------------------------------------
    def close_later(self, node: ServerNode, at: float) -> None:
        """Close one of ``node``'s current-epoch connections at time ``at`` (lazily)."""
        self._close_seq += 1
        heapq.heappush(self._closes, (at, self._close_seq, node.index, node.epoch))

    def settle(self, now: float) -> None:
        """Apply every scheduled close due by ``now``, in time order."""
        closes = self._closes
        while closes and closes[0][0] <= now:
            at, _, index, epoch = heapq.heappop(closes)
            self.nodes[index].close(at, epoch)

    def open_connections(self) -> int:
        return sum(node.connections for node in self.nodes)

    def node_connections(self) -> list[int]:
        """Open connections of each node now."""
        return [node.connections for node in self.nodes]

    def memory_now(self) -> float:
        """Bytes of memory held by all nodes now."""
        return self.memory_base * len(self.nodes) + self.memory_per_connection * self.open_connections()

    # -- failures ---------------------------------------------------------------
    def _next_crash_after(self, index: int, t: float) -> float:
        times = [f.at for f in self._crashes if f.node == index and f.at > t]
        return min(times, default=math.inf)

    def _inject_crashes(self) -> Iterator[simpy.Event]:
        env = self.env
        for failure in self._crashes:
            if failure.at > env.now:
                yield env.timeout(failure.at - env.now)
            self._crash(failure)

    def _crash(self, failure: FailureSpec) -> None:
        now = self.env.now
        self.settle(now)
        node = self.nodes[failure.node]
        until = now + failure.duration
        self._down_until[node.index] = until
        node.crash(now, until, self._next_crash_after(node.index, now))
        self.env.process(self._recover(node, until))

    def _recover(self, node: ServerNode, until: float) -> Iterator[simpy.Event]:
        yield self.env.timeout(until - self.env.now)
        # A crash starting exactly when this one ends may have been applied first: stay down.
        if self.env.now >= self._down_until[node.index]:
            node.recover()
