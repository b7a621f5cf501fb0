"""The server nodes behind a load balancer, and their failures.

The balancer places each new connection (or each connection-less request):
``round_robin`` cycles through the nodes that are up, ``least_connections``
picks the up node with the fewest open connections (ties in turn), ``hash`` pins a client to
``client % nodes`` and moves it to the next up node while that one is down.

Connections that close at a known future time (an idle keep-alive connection
at ``keep_alive_timeout``) are put in a heap and closed lazily, in time
order, the next time anything looks at the connection counts: no SimPy event
per close.

The fleet may change during a run (``[autoscale]``, ``[[operations]]``).  Nodes
live in ``config.node_slots()`` preallocated slots; ``serving`` lists the slots
the balancer places on, in slot order (all of ``server.nodes`` when the fleet is
fixed, so placement is as before).  A node joining is billed from its start and
serves after its boot time; a node leaving is taken off ``serving`` (deregistered),
its connections are closed spread over the drain window (the lifecycle's
``drain`` step, ``connections.drained``), and it retires at the window's end.
Every change of the billed and serving counts is logged (``node_log``) for
node-hours, cost and the ``nodes`` time series.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import simpy

from simulator.config import (
    AutoscaleSection,
    ExperimentConfig,
    FailureSpec,
    OperationSpec,
)
from simulator.engine.backplane import Backplane
from simulator.engine.http2 import ScaledSampler, Streams, connection_cap, zlib_memory_bytes
from simulator.engine.mechanism import mechanism_of
from simulator.engine.metrics import Metrics, node_cpu
from simulator.engine.node import ServerNode
from simulator.engine.randomness import RandomStreams


def memory_per_connection(config: ExperimentConfig) -> float:
    """Server memory one open connection holds: the stack's, plus zlib's with permessage-deflate (bytes)."""
    h = config.http
    extra = zlib_memory_bytes(h.deflate_window_bits, h.deflate_mem_level) if h.compression != "none" else 0.0
    return config.server.memory_per_connection + extra


def memory_terms(config: ExperimentConfig) -> tuple[float, float]:
    """The one memory formula (the run, early stop, the planner): ``(bytes per node with no connections, bytes per open connection)``.

    The per-connection share includes zlib's state under permessage-deflate
    (:func:`memory_per_connection`).
    """
    return config.server.memory_base, memory_per_connection(config)


def memory_held(config: ExperimentConfig, nodes: float, connections: float) -> float:
    """Bytes ``nodes`` nodes hold with ``connections`` open connections between them."""
    base, per_connection = memory_terms(config)
    return base * nodes + per_connection * connections


def _deflate_cost(config: ExperimentConfig) -> float:
    return config.http.deflate_cost if config.http.compression != "none" else 0.0


def _costs(config: ExperimentConfig, sampler, shift: float):
    """A node's cost sampler: each open stream of a client's tabs is written to (and opened) once."""
    scale = Streams.of(config).open
    if scale == 1 and shift == 0.0:
        return sampler  # the plain sampler: draws and results exactly as without these keys
    return ScaledSampler(sampler, float(scale), scale * shift)


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
        self.config = config
        s = config.server
        slots = config.node_slots()
        start = config.starting_nodes()
        self.memory_per_connection = memory_per_connection(config)
        cap = connection_cap(config, self.memory_per_connection)
        # what one message costs is the mechanism's to say (a WebSocket frame may cost less)
        self.message_cost = mechanism_of(config).message_cost(config)
        self.nodes = [
            ServerNode(
                i,
                s.workers,
                cap,
                _costs(config, streams.sampler(f"node.{i}.request_cost", s.request_cost), 0.0),
                _costs(config, streams.sampler(f"node.{i}.message_cost", self.message_cost), _deflate_cost(config)),
                metrics,
                s.idle_cpu,
            )
            for i in range(slots)
        ]
        # a client's tabs on HTTP/1.1 hold several connections (docs/design.md, protocols)
        per_client = Streams.of(config).connections
        for node in self.nodes:
            node.connections_per_client = per_client
        self.serving = self.nodes[:start]  # the balancer's targets, in slot order
        self.billed = [i < start for i in range(slots)]  # booting, serving or draining
        for node in self.nodes[start:]:
            node.up = False
        self.workers = s.workers
        self.idle_cpu = s.idle_cpu
        self.max_connections = s.max_connections
        self.dynamic = config.autoscale is not None or bool(config.operations)
        # (t, billed, working): working = serving or draining (booting nodes do no work)
        self.node_log: list[tuple[float, int, int]] = [(0.0, start, start)]
        self.listeners: list = []  # called with (node, t) when a node starts leaving (the lifecycle's drain)
        self._leaving: set[int] = set()  # slots deregistered and draining
        self._generation = [0] * slots  # bumped when a slot gets a new node
        self.scale_outs = 0
        self.deploying = 0  # rolling deploys under way
        self.scale_ins = 0
        self.events: list[tuple[float, str]] = []  # (t, what): operations and scaling steps, for recovery
        self.metrics = metrics
        self.balancer = config.cluster.balancer
        self.backplane_latency = config.cluster.backplane_latency if slots > 1 else 0.0
        self.store_cost = config.cluster.store_cost if slots > 1 else 0.0
        self.backplane = Backplane(config, self.backplane_latency)
        self._rr = 0
        self._closes: list[tuple[float, int, int, int]] = []  # (time, seq, node, epoch)
        self._close_seq = 0
        crashes = [f for f in config.failures if f.kind == "node_crash"]
        self._crashes = sorted(crashes, key=lambda f: f.at)
        self._down_until = [0.0] * slots  # end of each node's latest crash
        for node in self.nodes:
            node.next_crash = self._next_crash_after(node.index, -1.0)
        if self._crashes:
            env.process(self._inject_crashes())
        self.t_end = config.experiment.warmup + config.experiment.duration
        for op in sorted(config.operations, key=lambda o: o.at):
            env.process(self._operation(op))
        if config.autoscale is not None:
            env.process(self._autoscaler(config.autoscale))

    # -- placement ------------------------------------------------------------
    def pick(self, client: int) -> ServerNode | None:
        """The node for a new connection or request of ``client``; None if every node is down."""
        nodes = self.serving
        if not nodes:
            return None
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
        """Connections open now, over every node."""
        return sum(node.connections for node in self.nodes)

    def node_connections(self) -> list[int]:
        """Open connections of each node now."""
        return [node.connections for node in self.nodes]

    def memory_now(self) -> float:
        """Bytes of memory held by all nodes now."""
        return memory_held(self.config, self.billed_count(), self.open_connections())

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

    # -- the fleet over time ------------------------------------------------------
    def billed_count(self) -> int:
        """Nodes that exist now (booting, serving or draining): what is paid for."""
        return sum(self.billed)

    def running_count(self) -> int:
        """Nodes booting or serving (not leaving): the fleet a policy counts."""
        leaving = self._leaving
        return sum(1 for i, b in enumerate(self.billed) if b and i not in leaving)

    def _log_nodes(self) -> None:
        entry = (self.env.now, self.billed_count(), len(self.serving) + len(self._leaving))
        if self.node_log[-1][0] == entry[0]:
            self.node_log[-1] = entry
        else:
            self.node_log.append(entry)

    def add_node(self, boot_time: float) -> simpy.Process | None:
        """Start a node in a free slot now; it serves after ``boot_time`` (when the process ends).

        None if no slot is free.
        """
        free = [i for i, b in enumerate(self.billed) if not b]
        if not free:
            return None
        node = self.nodes[free[0]]
        self.billed[node.index] = True
        node.boot(self.env.now, self._next_crash_after(node.index, self.env.now))
        node.up = False  # billed, not serving until booted
        self._log_nodes()
        self._generation[node.index] += 1
        return self.env.process(self._boot(node, boot_time, self._generation[node.index]))

    def _boot(self, node: ServerNode, boot_time: float, generation: int) -> Iterator[simpy.Event]:
        if boot_time > 0:
            yield self.env.timeout(boot_time)
        if self._generation[node.index] != generation or node.index in self._leaving:
            return  # removed while booting
        node.up = self.env.now >= self._down_until[node.index]
        self.serving = sorted(self.serving + [node], key=lambda n: n.index)
        self._log_nodes()

    def remove_node(self, node: ServerNode, drain: float, deregistration_delay: float = 0.0) -> simpy.Process:
        """Take ``node`` out: deregister it now, drain it after ``deregistration_delay``, retire it.

        Its connections close spread over ``drain`` (the listeners' step); it then
        finishes the work it has queued (billed meanwhile; work arriving later that
        would end after that is lost, as at a crash) and retires.  A process that
        ends when the node is gone.
        """
        self._leaving.add(node.index)
        self.settle(self.env.now)
        self.serving = [n for n in self.serving if n is not node]
        self._log_nodes()
        return self.env.process(self._leave(node, drain, deregistration_delay))

    def _leave(self, node: ServerNode, drain: float, deregistration_delay: float) -> Iterator[simpy.Event]:
        env = self.env
        if deregistration_delay > 0:
            yield env.timeout(deregistration_delay)
        self.settle(env.now)
        for listener in self.listeners:
            listener(node, drain)
        if drain > 0:
            yield env.timeout(drain)
        # a graceful stop: the queue empties first, so nothing is left recorded past the end
        done = max(env.now, max(node.free))
        node.next_crash = min(node.next_crash, done)
        if done > env.now:
            yield env.timeout(done - env.now)
        self.settle(env.now)
        node.retire(env.now)
        self.billed[node.index] = False
        self._leaving.discard(node.index)
        self._log_nodes()

    def _scale_to(self, count: int, boot_time: float, drain: float) -> int:
        """Start or remove nodes now so ``count`` run; the change (+ out, - in)."""
        running = [n for n in self.nodes if self.billed[n.index] and n.index not in self._leaving]
        change = count - len(running)
        for _ in range(change):
            self.add_node(boot_time)
        if change < 0:
            # the serving nodes with the fewest connections leave first (booting ones before them)
            self.settle(self.env.now)
            booting = [n for n in running if n not in self.serving]
            serving = sorted((n for n in running if n in self.serving), key=lambda n: (n.connections, -n.index))
            for node in (booting + serving)[:-change]:
                self.remove_node(node, drain)
        return change

    def _operation(self, op: OperationSpec) -> Iterator[simpy.Event]:
        env = self.env
        if op.at > env.now:
            yield env.timeout(op.at - env.now)
        self.events.append((env.now, op.kind))
        if op.kind == "scale_to":
            self._scale_to(op.nodes, op.boot_time, op.drain)
            return
        # rolling_deploy: for each batch, boot the replacements first (surge), then the old
        # nodes leave (deregistration delay, drain); the next batch starts once they are gone.
        # An autoscaling policy holds while it runs (as during an instance refresh).
        self.deploying += 1
        old = [n for n in self.nodes if self.billed[n.index] and n.index not in self._leaving]
        for k in range(0, len(old), op.batch):
            batch = [n for n in old[k : k + op.batch] if self.billed[n.index] and n.index not in self._leaving]
            booting = [p for p in (self.add_node(op.boot_time) for _ in batch) if p is not None]
            if booting:
                yield env.all_of(booting)
            leaving = [self.remove_node(n, op.drain, op.deregistration_delay) for n in batch]
            if leaving:
                yield env.all_of(leaving)
        self.deploying -= 1

    def _autoscaler(self, policy: AutoscaleSection) -> Iterator[simpy.Event]:
        """Target tracking: every ``evaluate_every``, desired = ceil(serving x metric / target)."""
        env = self.env
        last_out = last_any = -math.inf
        period = policy.evaluate_every
        while env.now + period <= self.t_end:
            yield env.timeout(period)
            now = env.now
            serving = len(self.serving)
            if serving == 0 or self.deploying:
                continue
            level = self._level(policy.metric, now - period, now)
            desired = math.ceil(serving * level / policy.target - 1e-9)
            desired = min(policy.max_nodes, max(policy.min_nodes, desired))
            running = self.running_count()
            if desired > running and now - last_out >= policy.scale_out_cooldown:
                self._scale_to(desired, policy.boot_time, policy.drain)
                self.scale_outs += 1 if self.metrics.in_window(now) else 0
                self.events.append((now, "scale_out"))
                last_out = last_any = now
            elif desired < running and now - last_any >= policy.scale_in_cooldown:
                self._scale_to(desired, policy.boot_time, policy.drain)
                self.scale_ins += 1 if self.metrics.in_window(now) else 0
                self.events.append((now, "scale_in"))
                last_any = now

    def _level(self, metric: str, since: float, now: float) -> float:
        """The tracked metric's mean per serving node over ``[since, now]`` (a fraction)."""
        serving = self.serving
        self.settle(now)
        if metric == "connections":
            return sum(n.connections for n in serving) / (len(serving) * self.max_connections)
        if metric == "memory":
            full = memory_held(self.config, 1, self.max_connections)
            held = memory_held(self.config, len(serving), sum(n.connections for n in serving))
            return held / (len(serving) * full)
        # cpu: busy seconds recorded for the sample windows of the period (future work
        # already queued counts where it will run), over the serving workers' capacity
        m = self.metrics
        first, last = m.window(since), m.window(now - 1e-9)
        busy = sum(sum(m.w_busy[n.index][first : last + 1]) for n in serving)
        span = (last + 1 - first) * m.sample_every
        return node_cpu(busy / (len(serving) * self.workers * span), self.idle_cpu)

    def crash_seconds(self, a: float, b: float) -> float:
        """Node-seconds of ``[a, b]`` that crashed nodes spent down (no idle CPU then)."""
        return sum(max(0.0, min(b, f.at + f.duration) - max(a, f.at)) for f in self._crashes)

    # -- the node count over time ---------------------------------------------------
    def node_seconds(self, a: float, b: float, working: bool = False) -> float:
        """Integral of the billed (or working: serving or draining) node count over ``[a, b]`` (node-seconds)."""
        log = self.node_log
        col = 2 if working else 1
        total = 0.0
        for i, entry in enumerate(log):
            lo = max(entry[0], a)
            hi = min(log[i + 1][0] if i + 1 < len(log) else math.inf, b)
            if hi > lo:
                total += entry[col] * (hi - lo)
        return total

    def nodes_peak(self, a: float, b: float) -> int:
        """Most nodes billed at once within ``[a, b]``."""
        log = self.node_log
        peak = 0
        for i, entry in enumerate(log):
            end = log[i + 1][0] if i + 1 < len(log) else math.inf
            if entry[0] <= b and end > a:
                peak = max(peak, entry[1])
        return peak
