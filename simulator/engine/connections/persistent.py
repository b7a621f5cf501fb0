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
   in bulk, not timed).  With ``cluster.heartbeats_reset_idle = false``
   (ALB-style) heartbeats do not count, so a quiet stream is cut whatever
   its heartbeat.
5. middleboxes and dead peers: ``cluster.max_connection_age`` closes a
   connection that old (``connections.aged_out``; the client backs off and
   reconnects); ``network.nat_timeout`` leaves a connection silent that long
   (no data, no heartbeat) half-open (see :meth:`PersistentConnections._half_open`);
   ``network.dead_peer_timeout`` makes a client notice a crashed node only
   that long after the last traffic it got from it.

The mechanism supplies a :class:`Framing`: bytes per frame, heartbeat bytes,
extra round trips and how much of the missed history is replayed.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import URGENT

from simulator.engine.connections import Lifecycle
from simulator.engine.connections.accounting import BulkAccounts
from simulator.engine.connections.fanout import CONNECTING, DOWN, LIVE, FanOut
from simulator.engine.connections.sets import SubscriberSets
from simulator.engine.http2 import opening_bytes, tabs_framing, wire_payload
from simulator.engine.simulation import Simulation

#: The balancer's idle sweeper wakes at least every ``idle_timeout / SWEEPS_PER_IDLE_TIMEOUT``.
SWEEPS_PER_IDLE_TIMEOUT = 50
#: Client state: the NAT forgot the connection; the client still thinks it is open.
HALF_OPEN = 3
#: Seconds a server's TCP retransmits an unacknowledged write before it gives up on the
#: connection (Linux tcp_retries2 = 15: 0.2 s doubling up to 120 s, 924.6 s in all).
TCP_GIVE_UP = 924.6


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


class Subscribers(Lifecycle):
    """Clients waiting on a node for their feed: SSE and WebSocket streams, held long polls.

    Written once for both: each client's state (``DOWN``, ``CONNECTING``, ``LIVE``:
    a live stream or a held poll), the per-node subscriber sets of shared feeds,
    the first attempts (one timeout pending at a time over the sorted start times,
    not a million on SimPy's heap), and the end of live connections (crash, drain,
    idle cut, age) with vectorised backoff; hooks :meth:`ended` and :meth:`noticed`.
    """

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        n = sim.clients
        self.state = np.zeros(n, dtype=np.int8)
        self.log = sim.log
        self.cursor = sim.log.cursor
        self.per_client = sim.log.pattern == "per_client"
        self.sets = None if self.per_client else SubscriberSets(n, len(self.nodes), sim.log.feeds)
        self.dead_peer = sim.config.network.dead_peer_timeout

    # -- hooks ----------------------------------------------------------------------
    def ended(self, ids: np.ndarray, t: float) -> None:
        """Hook: the live connections ``ids`` end at ``t`` (still on their nodes). Default: nothing."""

    def noticed(self, ids: np.ndarray, t: float, crash: bool) -> np.ndarray | None:
        """Hook: when the clients ``ids`` learn of it (``crash``: no close reaches them); default now."""
        return None

    def offline_at_start(self, c: int) -> None:
        """Hook: client ``c`` is offline at its start time (it starts when it comes back)."""

    # -- steps ----------------------------------------------------------------------
    def start_clients(self) -> None:
        """Each client's first attempt at its start time: a chain of timeouts over the sorted
        start times, one pending at a time (the first urgent, as a process start would be)."""
        starts = np.asarray(self.sim.start_times(), dtype=np.float64)
        self._start_ids = np.argsort(starts, kind="stable")
        self._start_times = starts[self._start_ids]
        self._started = 0
        first = simpy.Event(self.env)
        first._ok, first._value = True, False
        first.callbacks.append(self._start_due)
        self.env.schedule(first, URGENT)

    def _start_due(self, event: simpy.Event) -> None:
        """Start the client this wake-up is for (``event.value``) and every other one due by now."""
        env = self.env
        ids, times = self._start_ids, self._start_times
        i, n, now = self._started, len(ids), env.now
        force = event.value  # woken for client i: start it whatever the rounding of now
        while i < n and (force or times[i] <= now):
            force = False
            c = int(ids[i])
            i += 1
            self.waiting[c] = False
            if self.online[c]:
                self.connect(c)
            else:
                self.offline_at_start(c)
        self._started = i
        if i < n:
            env.timeout(float(times[i]) - now, True).callbacks.append(self._start_due)

    def subscribe(self, c: int, node: int) -> None:
        """``c`` is live on ``node``: it joins the set of its feed there."""
        self.state[c] = LIVE
        if self.sets is not None:
            self.sets.add(c, node * self.sets.feeds + self.log.feed_of(c))

    def unsubscribe(self, c: int) -> None:
        """Client `c` is no longer live: out of its node's subscriber set."""
        self.state[c] = DOWN
        if self.sets is not None:
            self.sets.remove(c)

    def close_on_nodes(self, ids: np.ndarray, t: float) -> None:
        """The clients ``ids`` close their connections at ``t`` (slots freed, no metric)."""
        self.sim.cluster.settle(t)
        nodes, epoch_of = self.nodes, self.epoch_of
        for c in ids.tolist():
            if self.sets is not None:
                self.sets.remove(c)
            nodes[self.node_of[c]].close(t, int(epoch_of[c]))

    def on_crash(self, node, t: float) -> None:
        """``node`` crashed at ``t``: its live clients lose their connections and back off."""
        k = node.index
        ids = np.nonzero((self.node_of == k) & (self.state == LIVE))[0]
        if self.sets is not None:
            self.sets.clear_node(k)
        self.end_live(ids, t, self.noticed(ids, t, True), unsubscribe=False)

    def on_drain(self, c: int, node, t: float) -> None:
        """A leaving node closes ``c``'s live connection at ``t``: it reconnects elsewhere with backoff.

        One not live (connecting, a poll in flight) is left to the node's retirement."""
        if self.state[c] != LIVE:
            return
        self.drained(c, node, t)
        ids = np.array([c], dtype=np.int64)
        self.end_live(ids, t, self.noticed(ids, t, False))

    def end_live(self, ids: np.ndarray, t: float, noticed=None, unsubscribe: bool = True) -> None:
        """End the live connections ``ids`` at ``t``; each client retries, with backoff, once it notices."""
        if len(ids) == 0:
            return
        if unsubscribe and self.sets is not None:
            for c in ids.tolist():
                self.sets.remove(c)
        self.ended(ids, t)
        self.state[ids] = DOWN
        if noticed is None:
            self.back_off_many(ids)
        else:
            self.back_off_many_at(ids, noticed)


class PersistentConnections(Subscribers, FanOut):
    """Clients on long-lived connections: connect, fan out, drop, reconnect (the lifecycle's hooks)."""

    def __init__(self, sim: Simulation, framing: Framing):
        super().__init__(sim)
        framing = tabs_framing(framing, sim.streams_per_client)  # a client's tabs: k streams written to
        self.framing = framing
        c = sim.config
        n = sim.clients
        self.t_live = np.zeros(n)
        self.was_live = np.zeros(n, dtype=bool)  # has a Last-Event-ID to resume from
        self.broken = [False] * len(self.nodes)  # a write to some subscriber was lost (crash ahead)
        self.payload = wire_payload(c, sim.streams_per_client)  # per client write, all its streams
        idle = c.cluster.idle_timeout
        hb = framing.heartbeat
        # with heartbeats_reset_idle = false (ALB-style) heartbeats do not count as activity
        self.idle_heartbeats = c.cluster.heartbeats_reset_idle
        self.idle_cut = idle > 0 and (hb <= 0 or hb > idle or not self.idle_heartbeats)
        self.idle_timeout = idle
        self.max_age = c.cluster.max_connection_age
        nat = c.network.nat_timeout
        # heartbeats at least as frequent as the NAT timeout keep the mapping alive: nothing happens
        self.nat_timeout = nat if nat > 0 and (hb <= 0 or hb > nat) else 0.0
        self.nat_rng = sim.streams.generator("network.nat") if self.nat_timeout > 0 else None
        self.awaiting: dict[int, list[list]] = {}  # feed -> half-open connections not yet written to
        self.awaiting_beats: list[tuple[float, int, list]] = []  # (first heartbeat after expiry, seq, entry)
        self._awaiting_seq = 0
        self.half_open_spans: list[tuple[int, float, float]] = []  # (node, live from, server gave up)
        tracked = self.idle_cut or self.nat_timeout > 0 or self.dead_peer > 0
        self.last_data = np.zeros(n) if tracked else None
        self.accounts = BulkAccounts(
            sim.metrics,
            len(self.nodes),
            hb,
            framing.heartbeat_down,
            framing.heartbeat_up,
            framing.heartbeat_messages,
            framing.upstream_rate,
            framing.upstream_bytes,
            wire_payload(c),
            sim.cluster.message_cost.mean / (1.0 - c.server.idle_cpu),  # service time (server.idle_cpu)
            sim.streams.generator(f"{framing.name}.upstream"),
            c.server.workers,
        )
        http = sim.http
        self.round_trips = http.handshake_round_trips + framing.extra_round_trips
        # HTTP/3: a client connected before resumes with 0-RTT (docs/design.md, protocols)
        self.resumed_round_trips = http.resumed_round_trips + framing.extra_round_trips
        self.request_bytes, self.response_headers, self.handshake_up, self.handshake_down = opening_bytes(
            http, sim.streams_per_client
        )
        lat = sim.link.constant_latency  # constant latency: the whole set-up is one number
        self.setup_constant = (
            None
            if lat is None
            else (2 * self.round_trips + 1) * lat + self.request_bytes * sim.link.seconds_per_byte
        )
        self.setup_resumed = (
            None
            if lat is None
            else (2 * self.resumed_round_trips + 1) * lat + self.request_bytes * sim.link.seconds_per_byte
        )

        self.radio = sim.radio  # client activity times, when [clients.radio] is modelled
        self._finished = False
        self._ended_streams: tuple[list[int], list[float], list[float]] = ([], [], [])

    # -- start and end -------------------------------------------------------
    def start(self) -> None:
        """Launch the connector (clients' first attempts), the publisher hook and the idle sweeper."""
        env = self.sim.env
        self.log.listen(self._on_publish)
        self.start_clients()
        if self.idle_cut:
            env.process(self._sweeper())
        if self.max_age > 0 or self.nat_timeout > 0:
            env.process(self._middlebox_sweeper())
        if self.nat_timeout > 0:
            self.log.listen(self._on_publish_half_open)

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
            self._radio_heartbeats(live, sim.env.now)
            self._settle_ended()
            self.accounts.settle(self.node_of[live], self.t_live[live], sim.env.now)
            if self.nat_timeout > 0:
                self._settle_half_open()
            self.accounts.flush()
            self.log.advance(sim.t_end)
            for c in np.nonzero(self.state != LIVE)[0].tolist():
                limit = self.framing.replay_limit if self.was_live[c] else 0.0
                self._drop_overflow(c, limit)
        return self.log.pending_in_window()

    def offline_at_start(self, c: int) -> None:
        """Client `c` starts offline (churn): it was live before the run and resumes on return."""
        self.was_live[c] = True  # it was online before the run, and resumes on return

    # -- connecting ------------------------------------------------------------
    def on_open(self, c: int, node, now: float) -> None:
        """The connection is open: handshake, then the request reaches the node (one timeout)."""
        sim = self.sim
        env, metrics, link = sim.env, sim.metrics, sim.link
        self.state[c] = CONNECTING
        metrics.send_both_ways(now, self.handshake_up + self.request_bytes, self.handshake_down)
        if self.radio is not None:
            self.radio.activity(c, now)
        if self.resumed_round_trips != self.round_trips and self.was_live[c]:
            if self.setup_resumed is not None:
                setup = self.setup_resumed
            else:
                setup = link.one_way(self.request_bytes) + link.handshake(self.resumed_round_trips)
        elif self.setup_constant is not None:
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
            if self.dead_peer > 0:  # no answer and no close: it waits out dead_peer_timeout
                self.back_off(c, now + self.dead_peer)
            else:
                self.back_off(c)
            return
        if not self.online[c]:  # the client went offline during the handshake: it closes
            sim.cluster.settle(now)
            node.close(now, int(self.epoch_of[c]))
            self.state[c] = DOWN
            self.node_of[c] = -1
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
        self.subscribe(c, node.index)
        self.was_live[c] = True
        self.t_live[c] = now
        self.went_live(c)
        if self.last_data is not None:
            self.last_data[c] = now
        if finish < 0:
            return  # the node dies before answering; its crash drops this client
        metrics.send_down(finish, self.response_headers, 0.0)
        if self.radio is not None:
            self.radio.activity(c, finish)
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
        if self.radio is not None:
            self.radio.activity_many(np.full(k, c), arrived)
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

    # -- clients going offline -----------------------------------------------------
    def go_offline(self, ids: np.ndarray, t: float) -> None:
        """The live clients among ``ids`` close their streams: settled, slots freed, not a drop.

        One still connecting closes on arrival (:meth:`_on_arrive`); one backing off
        skips its retry.  On return it resumes from its Last-Event-ID: what it missed
        is replayed within ``replay_limit``, the rest lost (:meth:`_drop_overflow`).
        """
        live = ids[self.state[ids] == LIVE]
        if len(live) == 0:
            return
        self._radio_heartbeats(live, t)
        if self.accounts.active:  # settled in bulk later: one client at a time costs ~1 ms each
            ended = self._ended_streams
            ended[0].extend(self.node_of[live].tolist())
            ended[1].extend(self.t_live[live].tolist())
            ended[2].extend([t] * len(live))
            if len(ended[0]) >= 4096:
                self._settle_ended()
        self.close_on_nodes(live, t)
        self.state[live] = DOWN
        self.node_of[live] = -1

    def _radio_heartbeats(self, ids: np.ndarray, end) -> None:
        """The client radios of the streams ``ids`` saw every heartbeat from going live to ``end``."""
        if self.radio is not None:
            self.radio.periodic(ids, self.t_live[ids], end, self.framing.heartbeat)

    def _settle_ended(self) -> None:
        """Account the heartbeats and upstream traffic of the streams closed by going offline."""
        nodes, a, b = self._ended_streams
        if nodes:
            self.accounts.settle(np.asarray(nodes, dtype=np.int64), np.asarray(a), np.asarray(b))
        self._ended_streams = ([], [], [])

    def come_online(self, ids: np.ndarray, t: float) -> None:
        """Back: those not connected and with no attempt scheduled connect now (a fresh attempt)."""
        super().come_online(ids[self.state[ids] == DOWN], t)

    # -- drops ---------------------------------------------------------------------
    def on_crash(self, node, t: float) -> None:
        """A node crashed: end its live connections, and forget that its sends were broken."""
        super().on_crash(node, t)
        self.broken[node.index] = False

    def ended(self, ids: np.ndarray, t: float) -> None:
        """Settle the heartbeats and upstream traffic of the streams ``ids``."""
        self._radio_heartbeats(ids, t)
        self.accounts.settle(self.node_of[ids], self.t_live[ids], t)

    def noticed(self, ids: np.ndarray, t: float, crash: bool) -> np.ndarray | None:
        """A close is seen at once; a crash, with ``dead_peer_timeout``, that long after the last traffic."""
        if crash and self.dead_peer > 0:
            return np.maximum(self._last_traffic(ids, t) + self.dead_peer, t)
        return None

    def _idle_deadlines(self, live: np.ndarray) -> np.ndarray:
        """When each of the live connections ``live`` becomes idle for the balancer (seconds).

        The last activity is the later of going live and the last data frame
        written; a heartbeat (slower than the timeout, else there is no cut)
        rescues the connection only if it comes within ``idle_timeout`` of
        that activity; the next one is then too late.  Data and heartbeats
        before the last check were all on a connection still open, because the
        sweeper looks at every deadline.  With ``heartbeats_reset_idle = false``
        heartbeats rescue nothing.
        """
        return self._silence_deadlines(live, self.idle_timeout, self.idle_heartbeats)

    def _silence_deadlines(self, live: np.ndarray, idle: float, heartbeats: bool) -> np.ndarray:
        """When each of ``live`` has been silent for ``idle`` seconds (see :meth:`_idle_deadlines`)."""
        t_live = self.t_live[live]
        active = np.maximum(t_live, self.last_data[live])
        hb = self.framing.heartbeat
        if hb > 0 and heartbeats:
            beat = t_live + (np.floor((active - t_live) / hb) + 1) * hb  # first heartbeat after it
            active = np.where(beat - active < idle, beat, active)
        return active + idle

    def _sweeper(self) -> Iterator[simpy.Event]:
        """The balancer's idle timer: cut connections silent for ``idle_timeout``."""
        sim = self.sim
        env = sim.env
        idle = self.idle_timeout
        floor = idle / SWEEPS_PER_IDLE_TIMEOUT
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
                    self.end_live(cut, now)
                if not due.all():
                    wake = float(deadline[~due].min())
            wait = max(wake - now, floor)
            if now + wait > sim.t_end:
                return
            yield env.timeout(wait)

    # -- dead peers and middleboxes (cluster.max_connection_age, network.nat_timeout,
    #    network.dead_peer_timeout) ------------------------------------------------
    def _last_traffic(self, ids: np.ndarray, t: float) -> np.ndarray:
        """When the clients ``ids`` last heard from their server at or before ``t``: data or heartbeat."""
        t_live = self.t_live[ids]
        last = np.maximum(t_live, self.last_data[ids])
        hb = self.framing.heartbeat
        if hb > 0:
            last = np.maximum(last, t_live + np.floor((t - t_live) / hb) * hb)
        return np.minimum(last, t)

    def _middlebox_sweeper(self) -> Iterator[simpy.Event]:
        """The platform's age limit and the client-side NAT's idle timer, checked at the earliest deadline."""
        sim = self.sim
        env = sim.env
        limits = [x for x in (self.max_age, self.nat_timeout) if x > 0]
        floor = min(limits) / 50
        while True:
            now = env.now
            wake = now + min(limits)
            live = np.nonzero(self.state == LIVE)[0]
            if len(live) and self.max_age > 0:
                deadline = self.t_live[live] + self.max_age
                due = deadline <= now
                if due.any():
                    self._age_out(live[due], now)
                    live, deadline = live[~due], deadline[~due]
                if len(deadline):
                    wake = min(wake, float(deadline.min()))
            if self.nat_timeout > 0:
                self._beats_due(now)
                if self.awaiting_beats:
                    wake = min(wake, self.awaiting_beats[0][0])
            if len(live) and self.nat_timeout > 0:
                deadline = self._silence_deadlines(live, self.nat_timeout, True)
                due = deadline <= now
                if due.any():
                    self._half_open(live[due], deadline[due], now)
                    deadline = deadline[~due]
                if len(deadline):
                    wake = min(wake, float(deadline.min()))
            wait = max(wake - now, floor)
            if now + wait > sim.t_end:
                return
            yield env.timeout(wait)

    def _age_out(self, ids: np.ndarray, now: float) -> None:
        """The platform closes the connections ``ids`` for their age; the clients reconnect with backoff."""
        self.close_on_nodes(ids, now)
        self.sim.metrics.connections_aged(now, len(ids))
        self.end_live(ids, now, unsubscribe=False)

    def _half_open(self, ids: np.ndarray, expired: np.ndarray, now: float) -> None:
        """The client-side NAT forgot the connections ``ids`` at ``expired``: they are half-open.

        From then on nothing the server writes reaches the client (its cursor
        stays, so a reconnect replays or loses it per the mechanism's rule).
        The server keeps the connection, its slot and its memory, until its
        first write after the expiry (the next heartbeat, or the next event of
        the client's feed) fails: that write plus :data:`TCP_GIVE_UP`
        (unacknowledged retransmissions), or, when heartbeats expect an answer
        (WebSocket pong), the heartbeat after the first unanswered one,
        whichever comes first; a crash ends it sooner (:meth:`_server_gives_up`).
        The client learns ``dead_peer_timeout`` after the last traffic it got
        (the expiry minus ``nat_timeout``), or when one of its own upstream
        messages draws a reset (one round trip after it); with neither it
        stays stuck until the end of the run.  Upstream messages are settled
        in bulk, not timed, so they do not refresh the mapping.
        """
        hb = self.framing.heartbeat
        t_live = self.t_live[ids]
        n = len(ids)
        self._radio_heartbeats(ids, expired)  # none reach the client after the NAT forgot it
        first_hb = t_live + np.ceil((expired - t_live) / hb) * hb if hb > 0 else np.full(n, math.inf)
        feeds = self.log.client_feed[ids]
        for c, k, t0, beat, f in zip(ids.tolist(), self.node_of[ids].tolist(), expired.tolist(),
                                     first_hb.tolist(), feeds.tolist(), strict=True):
            node = self.nodes[k]
            entry = [False, c, k, node.epoch, t0, float(self.t_live[c]), beat, node.next_crash]
            self.awaiting.setdefault(f, []).append(entry)
            if beat < math.inf:
                self._awaiting_seq += 1
                heapq.heappush(self.awaiting_beats, (beat, self._awaiting_seq, entry))
            if self.sets is not None:
                self.sets.remove(c)
        self.state[ids] = HALF_OPEN
        client_learns = np.full(n, math.inf)
        if self.dead_peer > 0:
            client_learns = np.maximum(expired - self.nat_timeout + self.dead_peer, expired)
        if self.framing.upstream_rate > 0:
            upstream = expired + self.nat_rng.exponential(1.0 / self.framing.upstream_rate, n)
            client_learns = np.minimum(client_learns, upstream + 2 * self.sim.link.one_way(0.0))
        aware = np.isfinite(client_learns)
        if aware.any():
            self.back_off_many_at(ids[aware], client_learns[aware])
        self.node_of[ids[~aware]] = -1  # stuck: it never reconnects

    def _on_publish_half_open(self, feed: int, seq: int, t: float) -> None:
        """A publish on ``feed``: the server's first write into its half-open connections, if before a beat."""
        entries = self.awaiting.pop(feed, None)
        if entries:
            write = t + self.sim.cluster.backplane_latency
            for entry in entries:
                if not entry[0]:
                    self._server_gives_up(entry, write)

    def _beats_due(self, now: float) -> None:
        """Half-open connections whose first heartbeat after the expiry came before any data write."""
        beats = self.awaiting_beats
        while beats and beats[0][0] <= now:
            beat, _, entry = heapq.heappop(beats)
            if not entry[0]:
                self._server_gives_up(entry, beat)

    def _server_gives_up(self, entry: list, first_write: float) -> None:
        """The server's first write into a half-open connection was at ``first_write``: when it drops it."""
        entry[0] = True
        _, c, k, epoch, expired, t_live, beat, crash = entry
        until = first_write + TCP_GIVE_UP
        hb = self.framing.heartbeat
        if hb > 0 and self.framing.heartbeat_up > 0:
            until = min(until, beat + hb)  # the next ping finds the pong missing
        until = min(until, crash)
        self._half_open_ends(c, k, epoch, expired, t_live, until)

    def _half_open_ends(self, c: int, k: int, epoch: int, expired: float, t_live: float, until: float) -> None:
        sim = self.sim
        node = self.nodes[k]
        sim.metrics.half_opened(expired, until)
        if until < math.inf and node.epoch == epoch:
            sim.cluster.close_later(node, until)
        # the server wrote heartbeats into the dead connection until it gave up (settled at the end)
        self.half_open_spans.append((k, t_live, max(t_live, until)))

    def _settle_half_open(self) -> None:
        """At the end: half-open connections the server has not written to since the expiry.

        One with a heartbeat due (after the window) ends by it; one without
        stays open to the end of the run (or its node's crash).
        """
        for entries in self.awaiting.values():
            for entry in entries:
                if entry[0]:
                    continue
                if entry[6] < math.inf:
                    self._server_gives_up(entry, entry[6])
                else:
                    entry[0] = True
                    _, c, k, epoch, expired, t_live, _, crash = entry
                    self._half_open_ends(c, k, epoch, expired, t_live, crash)
        self.awaiting.clear()
        if self.half_open_spans:
            spans = np.asarray(self.half_open_spans)
            end = np.minimum(spans[:, 2], self.sim.env.now)
            self.accounts.settle(spans[:, 0].astype(np.int64), spans[:, 1], end)
            self.half_open_spans.clear()
