"""Short polling: every client asks "anything new?" on a timer.

``schedule = "fixed"`` sends each poll one ``interval`` after the previous one
was sent (``setInterval``); ``"after_response"`` waits ``interval`` after each
response (``setTimeout`` chained).  An ``interval`` given as a distribution is
drawn afresh for every gap.  The server answers with everything pending for
the client, or an empty response.

Event economy (docs/design.md §7): no process per client.  Every client's next
action (send a poll, or its poll reaching the node) is an entry in one
:class:`~simulator.engine.calendar.ActionCalendar`, handled in time order at its
exact time between SimPy's own events, so the node sees arrivals in time order
and its virtual-time worker pool stays an exact FCFS queue.  Everything
deterministic in between (handshake round trips, the up-link, queueing,
service, the down-link) is fused into the time of the next action.  A client
between two polls costs 16 bytes in the calendar, no SimPy event; a kept-alive
connection that idles out is closed lazily by the cluster (no action at all).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.base import Mechanism
from simulator.config import ExperimentConfig, PositiveSecondsDist
from simulator.config.distributions import Distribution
from simulator.engine.connections import Lifecycle
from simulator.engine.simulation import Simulation

#: Polls per calendar bucket: buckets are sorted when reached (a few thousand sort fast).
POLLS_PER_BUCKET = 2048


class ShortPollingParams(BaseModel):
    """The `[mechanism]` keys of short polling."""
    model_config = ConfigDict(extra="forbid")
    interval: PositiveSecondsDist = Field(
        Distribution.constant(5.0),
        description="Time between polls; a distribution is drawn afresh for every gap"
        " (exponential: each client's polls are a Poisson process).",
    )
    schedule: Literal["fixed", "after_response"] = Field(
        "fixed",
        description="fixed: each poll one interval after the previous was sent (setInterval);"
        " after_response: one interval after each response (setTimeout).",
    )


class ShortPolling(Lifecycle, Mechanism):
    """Short polling: clients poll on a timer, driven by the poll calendar (docs/design.md §7)."""
    kind = "short_polling"
    order = 10
    Params = ShortPollingParams
    summary = "clients poll on a timer; the server answers with what is pending or nothing"
    units = {"interval": "seconds (or a distribution)", "schedule": "fixed | after_response"}

    #: Measured ~190 B of peak RSS per client between 10,000 and 1,000,000 clients
    #: (benchmarks/bench_scale.py: the calendar entry, the lifecycle's arrays, the event
    #: log's per-client feed and cursor); with a margin.
    bytes_per_client = 400

    @staticmethod
    def events_per_client_second(params: ShortPollingParams, workload) -> float:
        """Two calendar actions per poll (for the up-front size check).

        They are not SimPy events, but each costs about as much wall time as one
        (measured 35,000-65,000 polls per CPU-second, 2026-12-01), so the check's
        events-per-second rate still prices them.
        """
        return 2.0 / max(params.interval.mean, 1e-12)

    @classmethod
    def holds_connection(cls, config: ExperimentConfig) -> bool:
        """A kept-alive connection outlives every gap between polls."""
        interval = config.mechanism.params.interval
        return config.http.keep_alive and interval.is_constant and interval.mean < cls.reuse_window_of(config)

    @classmethod
    def read_delay(cls, config: ExperimentConfig) -> float:
        """A notification waits for the next poll: the mean interval."""
        return config.mechanism.params.interval.mean  # a poll reads what is pending

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        p = sim.params
        n = sim.clients
        self.interval = sim.streams.sampler("short_polling.interval", p.interval)
        self.phase_rng = sim.streams.generator("short_polling.phase")
        self.fixed = p.schedule == "fixed"
        # Per client: the kept-alive connection's node (None: none open) and its epoch when
        # opened (remember_connection keeps them here, not in the lifecycle's arrays); in
        # flight: send time.
        self.conn: list = [None] * n
        self.conn_epoch = [0] * n
        self.sent_at: dict[int, float] = {}
        self.parked: set[int] = set()  # offline clients, polling again when they come back
        # HTTP/2 and 3: a poll on a connection already used sends compressed headers; the
        # in-flight polls that opened their connection carry full ones (engine/http2.py)
        self.opened_conn: set[int] = set()
        self.radio = sim.radio  # None unless [clients.radio] is modelled
        self.left_at: dict[int, float] = {}  # with a radio: when each in-flight request left
        # ~POLLS_PER_BUCKET polls per calendar bucket, whatever the client count
        width = max(p.interval.mean, 1e-6) * POLLS_PER_BUCKET / max(n, 1)
        self.calendar = sim.calendar(width, self._act)

    def start(self) -> None:
        """Put every client's first poll on the calendar, at its start time plus a random phase."""
        sim = self.sim
        starts = np.asarray(sim.start_times(), dtype=np.float64)
        phases = self.phase_rng.uniform(0.0, self.sim.params.interval.mean, sim.clients)
        self.calendar.schedule_many(starts + phases, np.arange(sim.clients, dtype=np.int64) * 2)

    def pending(self) -> int:
        """Deliveries still owed at the end: unread in the log (in flight counted by metrics)."""
        return self.sim.log.pending_in_window()

    def come_online(self, ids, t: float) -> None:
        """The returning clients that noticed they were offline poll now (a fresh connection)."""
        parked = self.parked
        for c in ids.tolist():
            if c in parked:
                parked.discard(c)
                self.reconnecting[c] = False
                self.calendar.schedule(t, 2 * c)

    # -- a client's actions: code 2c is client c sending a poll, 2c + 1 its poll at the node --
    # Each next time is computed as SimPy would (now + delay), so times match a process's.
    def remember_connection(self, c: int, node) -> None:
        """The new connection's node and epoch, in the lists polls read (not the lifecycle's
        arrays: a poll needs no drain, idle cut or crash lookup by client)."""
        self.conn[c] = node
        self.conn_epoch[c] = node.epoch

    def _act(self, code: int, now: float) -> None:
        if code & 1:
            self._at_node(code >> 1, now)
        else:
            self._send(code >> 1, now)

    def _send(self, client: int, now: float) -> None:
        sim = self.sim
        conn = self.conn
        node = conn[client]
        if self.churns and not self.online[client]:
            # offline: the client closed its connection (noticed at its next poll time) and
            # polls again when it returns, fetching the backlog then
            if node is not None:
                sim.cluster.settle(now)
                node.close(now, self.conn_epoch[client])
                conn[client] = None
            self.parked.add(client)
            return
        if node is not None and (node.epoch != self.conn_epoch[client] or not node.up):
            node = None  # the server dropped it (crash): this poll reconnects
            self.reconnecting[client] = True
        setup = 0.0
        req_bytes = sim.http.repeat_request_headers  # the same as the first on HTTP/1.1
        if node is None:
            node = self.open_connection(client, now)  # remembered in conn and conn_epoch
            if node is None:
                # refused: try again on the next tick, not after a backoff
                conn[client] = None
                self.calendar.schedule(now + self.interval(), 2 * client)
                return
            setup = self.handshake(client, now)
            req_bytes = sim.http.request_headers
            self.opened_conn.add(client)
        sim.metrics.send_up(now + setup, req_bytes, 0.0)
        if self.radio is not None:
            self.left_at[client] = now + setup
        self.sent_at[client] = now
        self.calendar.schedule(now + (setup + sim.link.one_way(req_bytes)), 2 * client + 1)

    def _at_node(self, client: int, now: float) -> None:
        sim = self.sim
        metrics = sim.metrics
        node = self.conn[client]
        t_send = self.sent_at.pop(client)
        opened = self.opened_conn
        fresh = client in opened
        if fresh:
            opened.discard(client)
        fixed = self.fixed
        if node.epoch != self.conn_epoch[client]:  # crashed while the request was on its way
            metrics.request(now, True)  # the next poll sees the broken connection
            gap = self.interval()
            self.calendar.schedule(now + (max(0.0, t_send + gap - now) if fixed else gap), 2 * client)
            return
        finish = node.process(now, node.request_cost() + sim.cluster.store_cost)
        if finish < 0:
            # The node crashes before answering: the request dies with it, and the
            # client learns so when the connection breaks (the crash, one way later).
            # It keeps the doomed connection until then; the next poll reconnects.
            metrics.request(now, True)
            gap = self.interval()
            detected = node.next_crash + sim.link.one_way(0)
            wake = max(t_send + gap, detected) if fixed else detected + gap
            self.calendar.schedule(now + max(0.0, wake - now), 2 * client)
            return
        times = sim.log.take(client, now)
        n = len(times)
        metrics.request(now, n == 0)
        body = n * sim.config.workload.payload
        size = (sim.http.response_headers if fresh else sim.http.repeat_response_headers) + body
        metrics.send_down(finish, size, body)
        arrived = finish + sim.link.one_way(size)
        metrics.deliver_response(times, arrived)
        if self.radio is not None:
            self.radio.exchange(client, self.left_at.pop(client), arrived)

        # -- back at the client: sleep until the next poll ----------------------
        gap = self.interval()
        next_send = t_send + gap if fixed else arrived + gap
        t = now
        if not sim.http.keep_alive:
            sim.cluster.close_later(node, finish)
            self.conn[client] = None
        else:
            expires = arrived + self.reuse_window
            if next_send > expires and expires < sim.t_end:
                t = now + (expires - now)  # it idles out first: closed then, lazily
                sim.cluster.close_later(node, t)
                self.conn[client] = None
        if next_send > t:
            t = t + (next_send - t)
        self.calendar.schedule(t, 2 * client)
