"""The persistent-connection building block shared by SSE and WebSocket (docs/design.md §2).

A client holds one long-lived connection to one node, through the shared
connection lifecycle (:class:`simulator.engine.connections.Lifecycle`: node,
epoch, backoff, reconnects).  Everything about the clients lives in numpy
arrays, one slot per client, not in Python objects or SimPy processes; the
block adds the connection state and when it went live; the read cursor is the
event log's own (``EventLog.cursor``: the next sequence number not yet sent,
i.e. ``Last-Event-ID + 1``).

Life of a connection, in SimPy events:

1. *attempt* (one event, at the client's start time or after a backoff): the
   balancer picks a node and ``node.open`` takes a connection slot (refused:
   back off and retry).  TCP and TLS round trips, the mechanism's extra round
   trips (the WebSocket Upgrade) and the request's one-way trip are fused into
   one timeout;
2. *arrival* (one event): the node handles the request (``request_cost``,
   one HTTP request), the client becomes a live subscriber, and what it missed
   is replayed from the log or declared lost, per the mechanism's rule.
3. while live: nothing.  A publish writes to every live subscriber of the
   feed on each node as array work (``node.process_many`` for the writes
   queueing behind the node's workers, ``link.one_way_many`` for latency and
   serialisation, ``metrics.deliver_many``); a per-client feed takes the same
   path with one subscriber, in scalar form (:mod:`simulator.engine.connections.fanout`).
   Heartbeats and upstream messages are settled arithmetically when the
   connection ends (:mod:`simulator.engine.connections.accounting`).
4. drops: a node crash drops all its live clients at once (vectorised backoff
   draws, one retry event each); with ``cluster.idle_timeout`` > 0 and
   heartbeats off or slower than it, the balancer cuts connections silent for
   ``idle_timeout`` (a sweeper checks at the earliest deadline, at most every
   ``idle_timeout / 50``, and cuts when it looks).  Data frames and
   heartbeats count as activity; upstream messages do not (they are settled
   in bulk, not timed).

The mechanism supplies a :class:`Framing`: bytes per frame, heartbeat bytes,
extra round trips and how much of the missed history is replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import simpy

from simulator.engine.connections import Lifecycle
from simulator.engine.connections.accounting import BulkAccounts
from simulator.engine.connections.fanout import CONNECTING, DOWN, LIVE, FanOut
from simulator.engine.connections.sets import SubscriberSets
from simulator.engine.simulation import Simulation


@dataclass(frozen=True)
class Framing:
    """What a mechanism tells the block about its wire format and its rules (bytes, seconds).

    ``frame_bytes(seqs)`` gives the bytes on the wire of the frames carrying
    the events with those 0-based sequence numbers (payload included);
    ``frame_one(seq)`` is its scalar form for the hot per-publish path.
    ``replay_limit`` is how many missed events a reconnecting client gets
    (0: none, ``math.inf``: all); a client's first connection never replays.
    """

    name: str
    frame_bytes: Callable[[np.ndarray], np.ndarray]
    frame_one: Callable[[int], float]
    extra_round_trips: int = 0
    heartbeat: float = 0.0
    heartbeat_down: float = 0.0
    heartbeat_up: float = 0.0
    heartbeat_messages: int = 1
    replay_limit: float = 0.0
    upstream_rate: float = 0.0
    upstream_bytes: float = 0.0


class PersistentConnections(Lifecycle, FanOut):
    """Clients on long-lived connections: connect, fan out, drop, reconnect (the lifecycle's hooks)."""

    def __init__(self, sim: Simulation, framing: Framing):
        super().__init__(sim)
        self.framing = framing
        c = sim.config
        n = sim.clients
        self.state = np.zeros(n, dtype=np.int8)
        self.t_live = np.zeros(n)
        self.was_live = np.zeros(n, dtype=bool)  # has a Last-Event-ID to resume from
        self.log = sim.log
        self.cursor = sim.log.cursor
        self.per_client = sim.log.pattern == "per_client"
        self.sets = None if self.per_client else SubscriberSets(n, len(self.nodes), sim.log.feeds)
        self.broken = [False] * len(self.nodes)  # a write to some subscriber was lost (crash ahead)
        self.payload = c.workload.payload
        idle = c.cluster.idle_timeout
        hb = framing.heartbeat
        self.idle_cut = idle > 0 and (hb <= 0 or hb > idle)
        self.idle_timeout = idle
        self.last_data = np.zeros(n) if self.idle_cut else None
        self.accounts = BulkAccounts(
            sim.metrics,
            len(self.nodes),
            hb,
            framing.heartbeat_down,
            framing.heartbeat_up,
            framing.heartbeat_messages,
            framing.upstream_rate,
            framing.upstream_bytes,
            self.payload,
            c.server.message_cost.mean,
            sim.streams.generator(f"{framing.name}.upstream"),
            c.server.workers,
        )
        http = sim.http
        self.round_trips = http.handshake_round_trips + framing.extra_round_trips
        self.request_bytes = http.request_headers
        self.response_headers = http.response_headers
        self.handshake_up = http.handshake_bytes_up
        self.handshake_down = http.handshake_bytes_down
        lat = sim.link.constant_latency  # constant latency: the whole set-up is one number
        self.setup_constant = (
            None
            if lat is None
            else (2 * self.round_trips + 1) * lat + self.request_bytes * sim.link.seconds_per_byte
        )
        self._finished = False

    # -- start and end -------------------------------------------------------
    def start(self) -> None:
        """Launch the connector (clients' first attempts), the publisher hook and the idle sweeper."""
        env = self.sim.env
        self.log.listen(self._on_publish)
        env.process(self._connector())
        if self.idle_cut:
            env.process(self._sweeper())

    def pending(self) -> int:
        """Deliveries owed but not delivered at the end (unread in the log; in-flight is the runner's).

        Settles the live connections' heartbeats and upstream traffic, and
        declares lost what a client not connected at the end can no longer get
        (missed events beyond what its reconnect would replay).
        """
        if not self._finished:
            self._finished = True
            sim = self.sim
            live = np.nonzero(self.state == LIVE)[0]
            self.accounts.settle(self.node_of[live], self.t_live[live], sim.env.now)
            self.accounts.flush()
            self.log.advance(sim.t_end)
            for c in np.nonzero(self.state != LIVE)[0].tolist():
                limit = self.framing.replay_limit if self.was_live[c] else 0.0
                self._drop_overflow(c, limit)
        return self.log.pending_in_window()

    def _connector(self) -> Iterator[simpy.Event]:
        env = self.sim.env
        starts = np.asarray(self.sim.start_times(), dtype=np.float64)
        order = np.argsort(starts, kind="stable")
        for c, t in zip(order.tolist(), starts[order].tolist(), strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            self.connect(c)

    # -- connecting ------------------------------------------------------------
    def on_open(self, c: int, node, now: float) -> None:
        """The connection is open: handshake, then the request reaches the node (one timeout)."""
        sim = self.sim
        env, metrics, link = sim.env, sim.metrics, sim.link
        self.state[c] = CONNECTING
        metrics.send_up(now, self.handshake_up + self.request_bytes, 0.0)
        metrics.send_down(now, self.handshake_down, 0.0)
        if self.setup_constant is not None:
            setup = self.setup_constant
        else:
            setup = link.one_way(self.request_bytes) + link.handshake(self.round_trips)
        event = env.timeout(setup, value=c)
        event.callbacks.append(self._on_arrive)

    def _on_arrive(self, event: simpy.Event) -> None:
        """The request reached its node: the client becomes a live subscriber."""
        c = event.value
        sim = self.sim
        now = sim.env.now
        metrics, log = sim.metrics, self.log
        node = self.nodes[int(self.node_of[c])]
        if self.is_broken(c, node):  # the node crashed during the handshake
            self.state[c] = DOWN
            self.back_off(c)
            return
        metrics.request(now, False)
        log.advance(now)  # bring the log up to now before reading what was missed
        f = log.feed_of(c)
        first = int(self.cursor[c])
        k = log.count[f] - first  # missed: replayed up to the limit, the rest lost
        if k:
            limit = self.framing.replay_limit if self.was_live[c] else 0.0
            if k > limit:
                self._drop_overflow(c, limit)
                first = int(self.cursor[c])
                k = log.count[f] - first
        if k:
            frames = self.framing.frame_bytes(np.arange(first, first + k))
            costs = node.message_cost.many(k)
            write = float(costs.sum())
            finish = node.process(now, node.request_cost() + write)
        else:
            finish = node.process(now, node.request_cost())
        self.state[c] = LIVE
        self.was_live[c] = True
        self.t_live[c] = now
        self.went_live(c)
        if self.sets is not None:
            self.sets.add(c, node.index * self.sets.feeds + f)
        if self.last_data is not None:
            self.last_data[c] = now
        if finish < 0:
            return  # the node dies before answering; its crash drops this client
        metrics.send_down(finish, self.response_headers, 0.0)
        if k:
            self._replay(c, node, finish - write, costs, frames, log.skip(c, first + k))

    def _replay(self, c, node, t_headers, costs, frames, published) -> None:
        """Write the missed frames after the response headers, one handler, one link."""
        m = self.sim.metrics
        link = self.sim.link
        spb = link.seconds_per_byte
        k = len(costs)
        writes = t_headers + np.cumsum(costs)
        # the link sends frame i once written and once frame i-1 is out (FIFO on one connection)
        sizes = np.concatenate(([self.response_headers], frames))
        ready = np.concatenate(([t_headers], writes))
        cum = np.cumsum(sizes * spb)
        out = np.maximum.accumulate(ready - np.concatenate(([0.0], cum[:-1]))) + cum
        arrived = out[1:] + link.one_way(0.0)
        m.deliver_many(np.asarray(published, dtype=np.float64), arrived)
        if m.in_window(t_headers):
            m.messages_pushed += k
        m.send_down(t_headers, float(frames.sum()), k * self.payload)
        if self.last_data is not None:
            self.last_data[c] = float(writes[-1])

    def _drop_overflow(self, c: int, limit: float) -> None:
        """Declare lost the missed events of ``c`` beyond the ``limit`` newest (the buffer rolled over)."""
        log = self.log
        missed = log.count[log.feed_of(c)] - int(self.cursor[c])
        if missed > limit:
            lose = self.sim.metrics.lose
            for published in log.skip(c, int(self.cursor[c]) + missed - int(limit)):
                lose(published)

    # -- drops ---------------------------------------------------------------------
    def on_crash(self, node, t: float) -> None:
        """``node`` crashed at ``t``: its live clients lose their connections and back off."""
        k = node.index
        ids = np.nonzero((self.node_of == k) & (self.state == LIVE))[0]
        if self.sets is not None:
            self.sets.clear_node(k)
        self.broken[k] = False
        self._drop(ids, t)

    def on_drain(self, c: int, node, t: float) -> None:
        """A leaving node closes ``c``'s live stream at ``t``: it reconnects elsewhere with its backoff.

        A client still connecting is left to the node's retirement (it then notices as after a crash).
        """
        if self.state[c] != LIVE:
            return
        self.drained(c, node, t)
        if self.sets is not None:
            self.sets.remove(c)
        self._drop(np.array([c], dtype=np.int64), t)

    def _drop(self, ids: np.ndarray, t: float) -> None:
        """End the live connections ``ids`` at ``t`` and schedule their reconnects (vectorised draws)."""
        if len(ids) == 0:
            return
        self.accounts.settle(self.node_of[ids], self.t_live[ids], t)
        self.state[ids] = DOWN
        self.back_off_many(ids)

    def _idle_deadlines(self, live: np.ndarray) -> np.ndarray:
        """When each of the live connections ``live`` becomes idle for the balancer (seconds).

        The last activity is the later of going live and the last data frame
        written; a heartbeat (slower than the timeout, else there is no cut)
        rescues the connection only if it comes within ``idle_timeout`` of
        that activity; the next one is then too late.  Data and heartbeats
        before the last check were all on a connection still open, because the
        sweeper looks at every deadline.
        """
        idle = self.idle_timeout
        t_live = self.t_live[live]
        active = np.maximum(t_live, self.last_data[live])
        hb = self.framing.heartbeat
        if hb > 0:
            beat = t_live + (np.floor((active - t_live) / hb) + 1) * hb  # first heartbeat after it
            active = np.where(beat - active < idle, beat, active)
        return active + idle

    def _sweeper(self) -> Iterator[simpy.Event]:
        """The balancer's idle timer: cut connections silent for ``idle_timeout``."""
        sim = self.sim
        env = sim.env
        idle = self.idle_timeout
        floor = idle / 50
        while True:
            now = env.now
            live = np.nonzero(self.state == LIVE)[0]
            wake = now + idle
            if len(live):
                deadline = self._idle_deadlines(live)
                due = deadline <= now
                cut = live[due]
                if len(cut):
                    self.cut_idle(cut.tolist(), now)
                    if self.sets is not None:
                        for c in cut.tolist():
                            self.sets.remove(c)
                    self._drop(cut, now)
                if not due.all():
                    wake = float(deadline[~due].min())
            wait = max(wake - now, floor)
            if now + wait > sim.t_end:
                return
            yield env.timeout(wait)
