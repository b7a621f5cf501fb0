"""Long polling: the server holds each request until there is news or ``hold`` runs out.

A client sends a request; at the node it costs ``request_cost`` (plus
``store_cost`` on a cluster, the shared-state read).  If something is pending
for the client in the event log, the answer carries all of it at once.  If
not, the request is *held*: it keeps its connection open (a slot of
``max_connections`` and ``memory_per_connection``) until the next notification
for the client is published, or until ``hold`` expires (an empty response).
Answering it (the deferred response, news or empty) costs the node
``server.held_response_cost`` (waking the parked request, its timer, the
write); absent, ``message_cost``, the price of a message on an open
connection.  The client re-requests ``rerequest_delay`` after each response
arrives, over the same kept-alive connection when ``http.keep_alive``
(RFC 6202 §2.2).

A hold longer than ``cluster.idle_timeout`` (> 0) is cut by the balancer at
``idle_timeout``: counted in ``connections.dropped``; the client sees the close
one one-way latency later, backs off (``mechanism.backoff``) and reconnects
(``reconnects.total``).  A node crash drops the requests held on it the same
way; the event log survives, so a crash delays notifications, never loses them.
With ``network.dead_peer_timeout`` > 0 the client learns of the crash only that
long after its request (no close reaches it).  With ``cluster.max_connection_age``
> 0 a kept-alive connection that old is closed by the platform between two
requests (``connections.aged_out``); the next request opens a new one.
A response whose write the crash would interrupt is not sent: its events stay
pending in the log and go out after the reconnect.

A held poll is a live subscriber of the persistent block's machinery
(:class:`simulator.engine.connections.persistent.Subscribers`), in its node's set
for its feed as an SSE stream is; first attempts, crash, drain and idle cut are
the block's.  Event economy (docs/design.md §7): a request over a kept-alive
connection is one SimPy event, its arrival at the node; a held request has none
of its own (a publish answers it from the log listener, with array work for a
shared feed; expiries sit in one FIFO queue served by one timer that wakes only
for a deadline still live).  A new connection adds one event at the send time,
because the balancer must see the cluster as it is then.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy
from pydantic import BaseModel, ConfigDict, Field

from models.base import Mechanism
from simulator.config import ExperimentConfig, Seconds
from simulator.engine.connections.fanout import LIVE
from simulator.engine.connections.persistent import Subscribers
from simulator.engine.node import ServerNode
from simulator.engine.simulation import Simulation

_EPS = 1e-9  # float slack when comparing a timer's firing time with a deadline


class LongPollingParams(BaseModel):
    """The `[mechanism]` keys of long polling."""
    model_config = ConfigDict(extra="forbid")
    hold: Seconds = Field(
        30.0,
        gt=0,
        description="How long the server holds a request with nothing to send before an empty response",
    )
    rerequest_delay: Seconds = Field(
        0.0, ge=0, description="Pause between receiving a response and sending the next request"
    )


class LongPolling(Subscribers, Mechanism):
    """Long polling: the server holds each request until news arrives or `hold` expires (docs/mechanisms.md)."""
    kind = "long_polling"
    order = 20
    Params = LongPollingParams
    summary = "the server holds each request until news arrives or hold expires; clients re-request"
    units = {"hold": "seconds", "rerequest_delay": "seconds"}
    # numpy state, the log's per-client lists and an expiry entry per held poll: measured
    # ~480-790 B/client at 1,000,000 clients (benchmarks/README.md, "Scale"), flat over time
    bytes_per_client = 900

    @staticmethod
    def events_per_client_second(params: LongPollingParams, workload) -> float:
        """About one SimPy event per request: one per notification or per expired hold."""
        return workload.rate + 1.0 / params.hold

    @classmethod
    def holds_connection(cls, config: ExperimentConfig) -> bool:
        """A kept-alive connection outlives the gap between polls and no idle cut ends a hold."""
        p, idle = config.mechanism.params, config.cluster.idle_timeout
        reuse = cls.reuse_window_of(config)
        return config.http.keep_alive and p.rerequest_delay < reuse and (idle == 0 or idle > p.hold)

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        p = sim.params
        c = sim.config
        self.gap = p.rerequest_delay
        idle = c.cluster.idle_timeout
        self.cut_by_balancer = 0 < idle < p.hold
        self.deadline = idle if self.cut_by_balancer else p.hold  # after arrival, seconds
        http = sim.http
        self.keep_alive = http.keep_alive
        self.req_bytes = http.request_headers
        self.resp_headers = http.response_headers
        self.payload = c.workload.payload
        self.store_cost = sim.cluster.store_cost
        # answering a held poll: server.held_response_cost when set, else the node's message cost
        # (the same sampler, so a config without the key draws exactly as before)
        held = c.server.held_response_cost
        self.answer_cost = [
            node.message_cost if held is None else sim.streams.sampler(f"node.{node.index}.held_response_cost", held)
            for node in sim.cluster.nodes
        ]
        self.backplane = sim.cluster.backplane  # t + backplane_latency, or through a redis queue
        n = sim.clients
        # HTTP/2 and 3: requests and responses after the first on a connection send
        # compressed headers (HPACK/QPACK, simulator.engine.http2); on 1.1 they are the same
        self.hpack = http.version != "1.1"
        self.repeat_req_bytes = http.repeat_request_headers
        self.repeat_resp_headers = http.repeat_response_headers
        self.fresh = np.zeros(n, dtype=bool)  # the next response is the connection's first
        self.held_since = np.zeros(n)  # arrival time of the held request (while state is LIVE)
        self.req_finish = np.zeros(n)  # when the node finished reading the current request
        self.max_age = c.cluster.max_connection_age
        self.opened_at = np.zeros(n)  # when the client's current connection was opened
        self.expiries: deque[tuple[float, int, float]] = deque()  # (deadline, client, arrival)
        self.late_empty: list[tuple[int, float]] = []  # (client, arrival): window polls ended empty after t_end
        self._classified = False
        self.timer_armed = False

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Start the clients' first polls and listen to the event log's publishes."""
        self.start_clients()
        self.log.listen(self._on_publish if self.per_client else self._on_publish_feed)

    def pending(self) -> int:
        """Deliveries still owed at the end: unread in the log (in flight counted by metrics)."""
        if not self._classified:
            self._classified = True
            self._classify_late()
        return self.sim.log.pending_in_window()

    def _ended_empty(self, c: int, t_arrived: float, now: float) -> None:
        """The request of ``c`` received at ``t_arrived`` ended at ``now`` without news.

        ``requests.empty_fraction`` counts the requests received in the window by how
        they end.  One still held at ``t_end`` cannot be judged by how the drain ends it
        (nothing is published after ``t_end``, so every such hold would run out empty):
        it is judged at the end by the schedule (:meth:`_classify_late`).
        """
        m = self.sim.metrics
        if m.in_window(t_arrived):
            if now <= m.t_end:
                m.empty_requests += 1
            else:
                self.late_empty.append((c, t_arrived))

    def _classify_late(self) -> None:
        """Count the window's polls held at ``t_end`` by how the feed's schedule would end them.

        Such a poll (arrived at ``a``, nothing pending at ``t_end``) ends with news if its
        feed publishes in ``(t_end, a + deadline]``, else empty; which of the two does not
        depend on the drain's length or on ``sample_every``.
        """
        m = self.sim.metrics
        log = self.log
        held = np.nonzero(self.state == LIVE)[0]
        ids = np.concatenate([held, np.array([c for c, _ in self.late_empty], dtype=np.int64)])
        arrived = np.concatenate([self.held_since[held], [a for _, a in self.late_empty]])
        late = (arrived >= m.t_start) & (arrived <= m.t_end)
        if not late.any():
            return
        first = log.first_after(m.t_end, self.deadline)
        m.empty_requests += int((first[log.client_feed[ids[late]]] > arrived[late] + self.deadline).sum())

    # -- client side: sending ------------------------------------------------------
    def on_open(self, c: int, node: ServerNode, now: float) -> None:
        """A new connection (the balancer picked ``node`` now): send the request on it."""
        self.waiting[c] = True  # the client's chain of requests is alive
        setup = self.handshake(c, now)
        self.fresh[c] = True
        self.opened_at[c] = now
        self.sim.metrics.send_up(now + setup, self.req_bytes, 0.0)
        if self.sim.radio is not None:
            self.sim.radio.activity(c, now + setup)
        self.call_at(now + setup + self.sim.link.one_way(self.req_bytes), c, self._on_arrive)

    def _next_request(self, c: int, t_send: float, idle_from: float) -> None:
        """Send the next request at ``t_send``, reusing the connection if it is still open."""
        self.waiting[c] = True
        index = self.node_of[c]
        if index >= 0 and t_send - idle_from > self.reuse_window:
            self.sim.cluster.close_later(self.nodes[index], idle_from + self.reuse_window)
            self.node_of[c] = index = -1
        if index >= 0 and self.max_age > 0 and t_send - self.opened_at[c] >= self.max_age:
            self._age_out(c, index, idle_from)
            index = -1
        if index < 0:
            self.call_at(t_send, c, self._fire_connect)
            return
        req_bytes = self.repeat_req_bytes  # the same as req_bytes on HTTP/1.1
        self.sim.metrics.send_up(t_send, req_bytes, 0.0)
        self.call_at(t_send + self.sim.link.one_way(req_bytes), c, self._on_arrive)

    # -- at the node ---------------------------------------------------------------
    def _on_arrive(self, ev: simpy.Event) -> None:
        c = ev.value
        sim = self.sim
        now = self.env.now
        if self.churns and self.node_of[c] < 0:  # the client went offline since and closed it
            self.waiting[c] = False
            if self.online[c]:  # and is back: a fresh connection
                self.connect(c)
            return
        node = self.nodes[self.node_of[c]]
        if self.is_broken(c, node):  # the node crashed since: the connection is gone
            # with dead_peer_timeout the client waits that long for an answer that never comes
            self.back_off(c, now + (self.dead_peer if self.dead_peer > 0 else sim.link.one_way(0.0)))
            return
        sim.metrics.request(now, False)
        finish = node.process(now, node.request_cost() + self.store_cost)
        self.req_finish[c] = finish
        if finish >= 0 and sim.log.peek(c, now):
            self._respond(c, node, finish, sim.log.take(c, now))
            return
        # Nothing pending (or the crash will eat the answer): hold the request.
        self.held_since[c] = now
        self.subscribe(c, node.index)
        self.expiries.append((now + self.deadline, c, now))
        if not self.timer_armed:
            self.timer_armed = True
            self.env.timeout(self.deadline).callbacks.append(self._on_timer)

    def _respond(self, c: int, node: ServerNode, finish: float, times) -> None:
        """Write a response carrying ``times`` (publish times) that leaves the node at ``finish``."""
        sim = self.sim
        metrics = sim.metrics
        n = len(times)
        body = n * self.payload
        headers = self.resp_headers
        if self.hpack:  # HTTP/1.1 never reads fresh: no per-response write
            if not self.fresh[c]:
                headers = self.repeat_resp_headers
            self.fresh[c] = False
        metrics.send_down(finish, headers + body, body)
        arrived = finish + sim.link.one_way(headers + body)
        metrics.deliver_response(times, arrived)
        self._responded(c, node, finish, arrived)

    def _responded(self, c: int, node: ServerNode, finish: float, arrived: float) -> None:
        """A response reached the client at ``arrived``: schedule the next request."""
        self.went_live(c)
        if self.sim.radio is not None:  # the response, then the next request after the gap
            self.sim.radio.exchange(c, arrived, arrived + self.gap)
        if not self.keep_alive:
            self.sim.cluster.close_later(node, finish)  # Connection: close after the response
            self.node_of[c] = -1
        self._next_request(c, arrived + self.gap, arrived)

    # -- a publish answers held requests --------------------------------------------
    def _on_publish(self, feed: int, seq: int, t: float) -> None:
        """Per-client feeds: feed ``feed`` is client ``feed``."""
        c = feed
        arrival = self.backplane.arrival(t, 1)  # published whether or not a poll is held
        if self.state[c] != LIVE:
            return
        node = self.nodes[self.node_of[c]]
        finish = node.process(arrival, self.answer_cost[node.index]())
        if finish >= 0:  # else the crash comes first: stay held, the crash listener drops it
            self._answer(c, node, finish, self.sim.log.take(c, t))

    def _answer(self, c: int, node: ServerNode, finish: float, times) -> None:
        """Answer ``c``'s held poll with ``times``, written at ``finish`` (not before its request was read)."""
        self.unsubscribe(c)
        self._respond(c, node, max(finish, float(self.req_finish[c])), times)

    def _on_publish_feed(self, feed: int, seq: int, t: float) -> None:
        """Broadcast or topics: answer every poll held on ``feed``, node by node, with array work."""
        sets = self.sets
        arrival = self.backplane.arrival(t, len(self.sim.cluster.serving))
        for node in self.nodes:
            key = node.index * sets.feeds + feed
            if sets.count[key]:
                self._answer_many(node, sets.take(key), feed, t, arrival)

    def _answer_many(self, node: ServerNode, idx: np.ndarray, feed: int, t: float, arrival: float) -> None:
        sim = self.sim
        log, metrics = sim.log, sim.metrics
        self.state[idx] = 0
        finish = node.process_many(arrival, self.answer_cost[node.index].many(len(idx)))
        ok = finish >= 0
        if not ok.all():  # writes the crash would cut: those polls stay held
            for c in idx[~ok].tolist():
                self.subscribe(c, node.index)
            idx, finish = idx[ok], finish[ok]
            if len(idx) == 0:
                return
        finish = np.maximum(finish, self.req_finish[idx])
        count = log.count[feed]
        cursor = log.cursor[idx]
        pend = count - cursor  # 1 unless an earlier answer was cut by a crash
        body = pend * self.payload
        headers = self.resp_headers
        if self.hpack:  # a connection's first response in full, later ones compressed
            headers = np.where(self.fresh[idx], self.resp_headers, self.repeat_resp_headers)
            self.fresh[idx] = False
        arrived = finish + sim.link.one_way_many(headers + body, len(idx))
        single = pend == 1
        if single.all():
            metrics.deliver_many(np.full(len(idx), t), arrived)
        else:
            metrics.deliver_many(np.full(int(single.sum()), t), arrived[single])
            for j in np.nonzero(~single)[0].tolist():
                for published in log.times_from(feed, int(cursor[j]))[: int(pend[j])]:
                    metrics.deliver(published, float(arrived[j]))
        log.cursor[idx] = count
        if self.hpack:
            metrics.send_down(t, float(headers.sum() + body.sum()), float(body.sum()))
        else:
            metrics.send_down(t, float(self.resp_headers * len(idx) + body.sum()), float(body.sum()))
        for c, fin, arr in zip(idx.tolist(), finish.tolist(), arrived.tolist(), strict=True):
            self._responded(c, node, fin, arr)

    # -- hold expiry and the balancer's idle timeout --------------------------------
    def _on_timer(self, ev: simpy.Event) -> None:
        now = self.env.now
        expiries = self.expiries
        held_since, state = self.held_since, self.state
        while expiries and expiries[0][0] <= now + _EPS:
            _, c, a = expiries.popleft()
            if state[c] == LIVE and held_since[c] == a:
                if self.cut_by_balancer:
                    self._cut(c, now)
                else:
                    self._expire(c, now)
        while expiries and (state[expiries[0][1]] != LIVE or held_since[expiries[0][1]] != expiries[0][2]):
            expiries.popleft()  # answered early: skip without waking for it
        if expiries:
            self.env.timeout(max(0.0, expiries[0][0] - now)).callbacks.append(self._on_timer)
        else:
            self.timer_armed = False

    def _expire(self, c: int, now: float) -> None:
        """``hold`` ran out: an empty response."""
        node = self.nodes[self.node_of[c]]
        finish = node.process(now, self.answer_cost[node.index]())
        if finish >= 0:  # else the crash comes first: stays held until the crash listener drops it
            self._ended_empty(c, float(self.held_since[c]), now)
            self._answer(c, node, finish, ())

    def _cut(self, c: int, now: float) -> None:
        """The balancer drops a connection idle for ``idle_timeout`` (counted as dropped)."""
        self.cut_idle([c], now)
        ids = np.array([c], dtype=np.int64)
        self.end_live(ids, now, self.noticed(ids, now, False))

    # -- held polls ending: offline, crash, drain, idle cut ---------------------------
    def go_offline(self, ids: np.ndarray, t: float) -> None:
        """The clients close their connections: a held poll ends empty, its slot is freed.

        A request still on its way finds the connection closed (:meth:`_on_arrive`) and
        ends the client's chain; the backlog is fetched by the first poll on return.
        """
        ids = ids[self.node_of[ids] >= 0]
        held = ids[self.state[ids] == LIVE]
        self.ended(held, t)
        self.waiting[held] = False  # a held poll has no event of its own: the chain ends here
        self.close_on_nodes(ids, t)
        self.state[ids] = 0
        self.node_of[ids] = -1

    def ended(self, ids: np.ndarray, t: float) -> None:
        """The held polls ``ids`` end at ``t`` with nothing: each counts as an empty request."""
        for c, a in zip(ids.tolist(), self.held_since[ids].tolist(), strict=True):
            self._ended_empty(c, a, t)

    def noticed(self, ids: np.ndarray, t: float, crash: bool) -> np.ndarray:
        """The close reaches the clients one one-way latency later; after a crash with
        ``dead_peer_timeout`` no close comes: each gives up that long after its request."""
        seen = t + self.sim.link.one_way_many(0.0, len(ids))
        if crash and self.dead_peer > 0:
            seen = np.maximum(seen, self.held_since[ids] + self.dead_peer)
        return seen

    # -- the platform's age limit ----------------------------------------------------
    def _age_out(self, c: int, index: int, idle_from: float) -> None:
        """The platform closed ``c``'s kept-alive connection for its age while it was idle.

        Checked when the next request is due: the close came between two requests
        (at the age limit, or at the last response if later), so the next request
        opens a new connection at once, with no backoff.  A hold the limit falls
        inside runs to its end: holds are short next to any platform's age limit.
        """
        at = max(float(self.opened_at[c]) + self.max_age, idle_from)
        self.sim.cluster.close_later(self.nodes[index], at)
        self.sim.metrics.connections_aged(at, 1)
        self.node_of[c] = -1


def zero_gap_request_rate(rate: float, hold: float) -> float:
    """Theory: requests per second per client at zero gap, λ / (1 − e^(−λ·hold))."""
    return rate / -math.expm1(-rate * hold)


def request_rate(rate: float, hold: float, gap: float) -> float:
    """Theory with a gap ``R`` (answer → next request at the server), requests per second.

    A cycle is R plus, if nothing was published during R, min(Exp(λ), hold):
    1 / (R + e^(−λR) (1 − e^(−λ·hold)) / λ).
    """
    if rate <= 0:
        return 1.0 / (gap + hold)
    return 1.0 / (gap + math.exp(-rate * gap) * -math.expm1(-rate * hold) / rate)
