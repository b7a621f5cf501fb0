"""Short polling: every client asks "anything new?" on a timer.

``schedule = "fixed"`` sends each poll one ``interval`` after the previous one
was sent (``setInterval``); ``"after_response"`` waits ``interval`` after each
response (``setTimeout`` chained).  An ``interval`` given as a distribution is
drawn afresh for every gap.  The server answers with everything pending for
the client, or an empty response.

Event economy (docs/design.md §7): one poll is two SimPy events: the request's
arrival at the node (so the node sees arrivals in time order, which makes its
virtual-time worker pool an exact FCFS queue), and the client's wake-up for the
next poll.  Everything deterministic in between (handshake round trips, the
up-link, queueing, service, the down-link) is fused into those two timeouts.
A kept-alive connection costs one more event only when it actually idles out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import simpy
from pydantic import BaseModel, ConfigDict, Field

from models.base import Mechanism
from simulator.config import ExperimentConfig, PositiveSecondsDist
from simulator.config.distributions import Distribution
from simulator.engine.connections import Lifecycle
from simulator.engine.simulation import Simulation


class ShortPollingParams(BaseModel):
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
    kind = "short_polling"
    order = 10
    Params = ShortPollingParams
    summary = "clients poll on a timer; the server answers with what is pending or nothing"
    units = {"interval": "seconds (or a distribution)", "schedule": "fixed | after_response"}

    @staticmethod
    def events_per_client_second(params: ShortPollingParams, workload) -> float:
        """Two SimPy events per poll (for the up-front size check)."""
        return 2.0 / max(params.interval.mean, 1e-12)

    @classmethod
    def holds_connection(cls, config: ExperimentConfig) -> bool:
        """A kept-alive connection outlives every gap between polls."""
        interval = config.mechanism.params.interval
        return config.http.keep_alive and interval.is_constant and interval.mean < cls.reuse_window_of(config)

    @classmethod
    def read_delay(cls, config: ExperimentConfig) -> float:
        return config.mechanism.params.interval.mean  # a poll reads what is pending

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        p = sim.params
        self.interval = sim.streams.sampler("short_polling.interval", p.interval)
        self.phase_rng = sim.streams.generator("short_polling.phase")
        self.fixed = p.schedule == "fixed"
        self.wake: dict[int, simpy.Event] = {}  # offline clients, woken when they come back

    def start(self) -> None:
        sim = self.sim
        starts = sim.start_times()
        phases = self.phase_rng.uniform(0.0, self.sim.params.interval.mean, sim.clients)
        for c in range(sim.clients):
            sim.env.process(self._client(c, float(starts[c] + phases[c])))

    def pending(self) -> int:
        """Deliveries still owed at the end: unread in the log (in flight counted by metrics)."""
        return self.sim.log.pending_in_window()

    def come_online(self, ids, t: float) -> None:
        """Wake the returning clients' processes: they poll now."""
        for c in ids.tolist():
            back = self.wake.pop(c, None)
            if back is not None:
                back.succeed()

    def _client(self, client: int, first_send: float) -> Iterator[simpy.Event]:
        sim = self.sim
        env, cluster, link, log, metrics, http = (
            sim.env, sim.cluster, sim.link, sim.log, sim.metrics, sim.http,
        )
        interval = self.interval
        fixed = self.fixed
        keep_alive = http.keep_alive
        idle_timeout = self.reuse_window
        first_req, first_resp = http.request_headers, http.response_headers
        # HTTP/2 and 3: a poll on a connection already used sends compressed headers
        repeat_req, repeat_resp = http.repeat_request_headers, http.repeat_response_headers
        connected_before = False  # HTTP/3 resumes a known server with 0-RTT
        payload = sim.config.workload.payload
        store_cost = cluster.store_cost
        t_end = sim.t_end
        radio = sim.radio  # None unless [clients.radio] is modelled

        node = None  # the node of the kept-alive connection, if any
        epoch = -1  # its epoch when opened (a local copy of the lifecycle's, for speed)
        expires = 0.0  # when that connection idles out
        reconnecting = self.reconnecting
        online, churns = self.online, self.churns
        yield env.timeout(first_send)
        while True:
            if churns and not online[client]:
                # offline: the client closed its connection (noticed at its next poll time) and
                # polls again when it returns, fetching the backlog then
                if node is not None:
                    cluster.settle(env.now)
                    node.close(env.now, epoch)
                    node = None
                back = self.wake[client] = env.event()
                yield back
                reconnecting[client] = False
            t_send = env.now
            if node is not None and (node.epoch != epoch or not node.up):
                node = None  # the server dropped it (crash): this poll reconnects
                reconnecting[client] = True
            setup = 0.0
            req_bytes, resp_headers = repeat_req, repeat_resp
            if node is None:
                node = self.open_connection(client, t_send)
                if node is None:
                    wait = interval()  # refused: try again on the next tick, not after a backoff
                    yield env.timeout(wait)
                    continue
                epoch = node.epoch
                setup = self.handshake(t_send, connected_before)
                connected_before = True
                req_bytes, resp_headers = first_req, first_resp
            metrics.send_up(t_send + setup, req_bytes, 0.0)
            yield env.timeout(setup + link.one_way(req_bytes))

            # -- at the node ------------------------------------------------
            now = env.now
            if node.epoch != epoch:  # crashed while the request was on its way
                metrics.request(now, True)  # the next poll sees the broken connection
                gap = interval()
                yield env.timeout(max(0.0, t_send + gap - now) if fixed else gap)
                continue
            finish = node.process(now, node.request_cost() + store_cost)
            if finish < 0:
                # The node crashes before answering: the request dies with it, and the
                # client learns so when the connection breaks (the crash, one way later).
                # It keeps the doomed connection until then; the next poll reconnects.
                metrics.request(now, True)
                gap = interval()
                detected = node.next_crash + link.one_way(0)
                wake = max(t_send + gap, detected) if fixed else detected + gap
                yield env.timeout(max(0.0, wake - now))
                continue
            times = log.take(client, now)
            n = len(times)
            metrics.request(now, n == 0)
            body = n * payload
            metrics.send_down(finish, resp_headers + body, body)
            arrived = finish + link.one_way(resp_headers + body)
            metrics.deliver_response(times, arrived)
            if radio is not None:
                radio.exchange(client, t_send + setup, arrived)

            # -- back at the client: sleep until the next poll --------------
            gap = interval()
            next_send = t_send + gap if fixed else arrived + gap
            if not keep_alive:
                cluster.close_later(node, finish)
                node = None
            else:
                expires = arrived + idle_timeout
                if next_send > expires and expires < t_end:
                    yield env.timeout(expires - env.now)
                    cluster.settle(env.now)
                    node.close(env.now, epoch)
                    node = None
            if next_send > env.now:
                yield env.timeout(next_send - env.now)
