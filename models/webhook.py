"""Webhooks: the provider POSTs every delivery to the client's own HTTP endpoint.

Clients are receiving backends, each with ``receiver_workers`` workers that
spend ``receiver_cost`` on a POST (:class:`simulator.engine.receiver.ReceiverPool`).
The provider is the server cluster: for each delivery a node spends
``request_cost`` preparing the POST, then sends it and waits up to ``timeout``
for the 2xx, counted from the moment it starts connecting.  A refused
connection (the receiver is down) or no answer in time is a failed attempt:
the provider retries after ``mechanism.backoff`` (retry k waits
``backoff.delay(k - 1)`` after the failure is seen) until ``max_attempts``
attempts, then gives up (``webhook.gave_up``).  Delivery is at-least-once and
unordered, as with Stripe, GitHub or Shopify webhooks.

A receiver slower than the timeout still processes the POST, so the retry is a
duplicate.  The *delivery* is the first copy that reaches the receiver (its
last byte: docs/design.md §5's "last byte at the client", as for every mechanism); a
receiver processes whatever reaches it, so that copy is also the first one
processed.  Each later copy that reaches it is a duplicate.  Giving up loses
the delivery only if no copy ever reached the receiver.

Bytes: the provider is the HTTP client here.  ``network.bytes_down`` keeps its
meaning of server -> client (provider -> receiver: the POST's
``request_headers`` + payload, and the client side of any TCP/TLS handshake),
so the egress cost is the provider's; ``network.bytes_up`` is receiver ->
provider (``response_headers`` and the server side of the handshake).
Connections: with ``http.keep_alive`` a POST reuses the provider's pooled
connection to a receiver if a POST to it succeeded within
``keep_alive_timeout``; otherwise (and always after a failure) it opens a new
one (``connections.opened``; refusals count in ``connections.refused``).  The
provider's outbound connections do not count against ``max_connections``.

Event economy: a first attempt costs one SimPy event (the POST reaching the
receiver; the provider's work is queued inside the publish callback); a retry
costs one more (the provider's wake-up, which must see its node's queue in
time order).  A refused attempt needs no event at the receiver.

A provider node crash loses the POSTs queued on it; the provider's delivery
queue is durable, so such a delivery is re-queued after the crash without
counting an attempt.  POSTs already on the wire complete.
"""

from __future__ import annotations

import math

import simpy
from pydantic import BaseModel, ConfigDict, Field

from models.base import Mechanism
from simulator.config import Seconds, SecondsDist
from simulator.config.distributions import Distribution
from simulator.engine.receiver import ReceiverPool
from simulator.engine.simulation import Simulation


class WebhookParams(BaseModel):
    """The `[mechanism]` keys of webhooks."""
    model_config = ConfigDict(extra="forbid")
    timeout: Seconds = Field(
        10.0, gt=0, description="How long the provider waits for the 2xx, from starting to connect"
    )
    max_attempts: int = Field(
        8, ge=1, description="POSTs per delivery, the first included, before the provider gives up"
    )
    receiver_workers: int = Field(
        4, ge=1, description="POSTs each receiving backend processes at once (FCFS)"
    )
    receiver_cost: SecondsDist = Field(
        Distribution.constant(0.020),
        description="Receiver time to process one POST; slower than timeout means duplicates",
    )


class _Delivery:
    """One notification owed to one receiver, across its attempts."""

    __slots__ = ("published", "receiver", "attempt", "previous", "reached", "start", "sent")

    def __init__(self, published: float, receiver: int):
        self.published = published
        self.receiver = receiver
        self.attempt = 0  # 0 = first POST
        self.previous = 0.0  # last backoff delay (decorrelated jitter)
        self.reached = False  # a copy reached the receiver (delivered)
        self.start = 0.0  # when the provider took up the current attempt
        self.sent = 0.0  # when it started connecting (the timeout runs from here)


class Webhook(Mechanism):
    """Webhooks: the provider POSTs each delivery to the client's backend and retries with backoff."""
    kind = "webhook"
    order = 50
    features = frozenset({"node_crash", "receiver_outage"})
    client_kinds = frozenset({"backend"})  # a webhook needs a reachable backend
    Params = WebhookParams
    summary = "the provider POSTs each delivery to the client's endpoint; retries with backoff"
    units = {
        "timeout": "seconds",
        "max_attempts": "count (first POST included)",
        "receiver_workers": "count",
        "receiver_cost": "seconds (or a distribution)",
    }

    # the log's per-client list, a float per receiver (its last POST) and per provider pool
    # entry: measured ~220 B/client at 1,000,000 clients (benchmarks/bench_scale_push.py)
    bytes_per_client = 400

    @staticmethod
    def events_per_client_second(params, workload) -> float:
        """About one SimPy event per delivery attempt (for the up-front size check)."""
        return workload.rate

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        p = sim.params
        c = sim.config
        self.env = sim.env
        self.timeout = p.timeout
        self.max_attempts = p.max_attempts
        self.receivers = ReceiverPool(sim.clients, p.receiver_workers)
        self.receivers.add_outages(c.failures, sim.streams)
        # an offline receiver (clients.session, [profile]) refuses, like one in an outage
        self.online = sim.presence.online if sim.presence.varies else None
        self.receiver_cost = sim.streams.sampler("webhook.receiver_cost", p.receiver_cost)
        http = sim.http
        self.reuse_window = http.keep_alive_timeout if http.keep_alive else -1.0
        self.post_bytes = http.request_headers + c.workload.payload
        self.payload = c.workload.payload
        self.resp_headers = http.response_headers
        self.last_ok = [-math.inf] * sim.clients  # when the last POST to each receiver succeeded
        self.unresolved = 0  # window deliveries neither delivered nor lost yet
        members = sim.log.feed_members()
        self.members = None if members is None else [m.tolist() for m in members]
        #: Set to a list to record ``(receiver, published, attempt, start, outcome, seen)``
        #: per attempt: outcome is "refused", "ok" or "timeout"; ``seen`` is when the
        #: provider knows it (the retry's backoff runs from there).
        self.trace: list[tuple[int, float, int, float, str, float]] | None = None

    def start(self) -> None:
        """Listen to the event log's publishes: each one becomes a POST per subscriber."""
        self.sim.log.listen(self._on_publish)

    def pending(self) -> int:
        """Window deliveries not yet delivered and not given up at the end.

        Counted from what is scheduled, not from the ``unresolved`` counter: every
        delivery still owed has exactly one event in SimPy's queue (its next attempt,
        or its POST on the way), so the books stay an independent check — a delivery
        dropped on some path would make them fail instead of hiding as pending.
        """
        m = self.sim.metrics
        owed = {
            id(d)
            for *_, event in self.env._queue  # SimPy's event heap: (time, priority, id, event)
            if isinstance(d := getattr(event, "_value", None), _Delivery)
            and not d.reached
            and m.in_window(d.published)
        }
        return len(owed)

    def outstanding(self) -> int:
        """What the runner's drain waits for: the same count, without side effects."""
        return self.unresolved

    # -- the provider ------------------------------------------------------------
    def _on_publish(self, feed: int, seq: int, t: float) -> None:
        sim = self.sim
        m = sim.metrics
        in_window = m.in_window(t)
        if self.members is None:
            sim.log.skip(feed, seq + 1)  # the provider's queue took it: keep the log short
            receivers = (feed,)
        else:
            receivers = self.members[feed]
        for r in receivers:
            if in_window:
                self.unresolved += 1
            self._attempt(_Delivery(t, r), t)

    def _on_retry(self, ev: simpy.Event) -> None:
        self._attempt(ev.value, self.env.now)

    def _attempt(self, d: _Delivery, now: float) -> None:
        """The provider takes up delivery ``d`` at ``now``: prepare and send one POST."""
        sim = self.sim
        m, link, cluster = sim.metrics, sim.link, sim.cluster
        node = cluster.pick(d.receiver)
        finish = node.process(now, node.request_cost()) if node is not None else -1.0
        if finish < 0:  # no provider node can do it: re-queue after the crash, no attempt spent
            if node is None:  # every node is down: a crashed node's workers are busy until it returns
                later = now + min(n.backlog(now) for n in cluster.nodes)
            else:
                later = node.next_crash
            self._later(later if later > now else now + sim.backoff.initial, d)
            return
        if m.in_window(now):
            m.webhook_attempts += 1
            if d.attempt > 0:
                m.webhook_retries += 1
        d.start = now
        d.sent = finish
        r = d.receiver
        first_hop = link.one_way(0.0)
        if self.receivers.down(r, finish + first_hop) or (self.online is not None and not self.online[r]):  # SYN (or the POST) refused: RST comes back
            m.connection_refused(finish + first_hop)
            self.last_ok[r] = -math.inf
            seen = finish + first_hop + link.one_way(0.0)
            self._record(d, "refused", seen)
            self._fail(d, seen)
            return
        http = sim.http
        if finish - self.last_ok[r] > self.reuse_window:  # a new connection: TCP + TLS first
            setup = first_hop + link.one_way(0.0) + link.handshake(http.handshake_round_trips - 1)
            m.connection_opened(finish)
            m.send_down(finish, http.handshake_bytes_up, 0.0)  # provider's side of the handshake
            m.send_up(finish, http.handshake_bytes_down, 0.0)
            m.send_down(finish + setup, self.post_bytes, self.payload)
            arrive = finish + setup + link.one_way(self.post_bytes)
        else:  # over the pooled connection: the first hop is the POST itself
            m.send_down(finish, self.post_bytes, self.payload)
            arrive = finish + first_hop + self.post_bytes * link.seconds_per_byte
        ev = self.env.timeout(arrive - now, d)
        ev.callbacks.append(self._on_reach)

    def _later(self, t: float, d: _Delivery) -> None:
        ev = self.env.timeout(t - self.env.now, d)
        ev.callbacks.append(self._on_retry)

    # -- the receiver ---------------------------------------------------------------
    def _on_reach(self, ev: simpy.Event) -> None:
        """A POST's last byte reaches the receiver: it queues, is processed, answers 2xx."""
        d: _Delivery = ev.value
        sim = self.sim
        m = sim.metrics
        now = self.env.now
        r = d.receiver
        m.request(now, False)
        done = self.receivers.process(r, now, self.receiver_cost())
        if d.reached:
            m.duplicate(d.published, now)
        else:
            d.reached = True
            m.deliver(d.published, now)
            self._resolve(d)
        m.send_up(done, self.resp_headers, 0.0)
        answered = done + sim.link.one_way(self.resp_headers)
        if answered - d.sent <= self.timeout:
            self.last_ok[r] = answered
            self._record(d, "ok", answered)
            return
        self.last_ok[r] = -math.inf  # the provider abandons the connection
        seen = max(now, d.sent + self.timeout)
        self._record(d, "timeout", seen)
        self._fail(d, seen)

    # -- retries and giving up -------------------------------------------------------
    def _fail(self, d: _Delivery, seen: float) -> None:
        """Attempt ``d.attempt`` failed, as the provider sees at ``seen``: retry or give up."""
        k = d.attempt + 1
        m = self.sim.metrics
        if k >= self.max_attempts:
            if m.in_window(d.published):
                m.webhook_gave_up += 1
            if not d.reached:
                m.lose(d.published)
                self._resolve(d)
            return
        wait = self.sim.backoff.delay(k - 1, d.previous)
        d.attempt = k
        d.previous = wait
        self._later(seen + wait, d)

    def _resolve(self, d: _Delivery) -> None:
        m = self.sim.metrics
        if m.in_window(d.published):
            self.unresolved -= 1

    def _record(self, d: _Delivery, outcome: str, seen: float) -> None:
        if self.trace is not None:
            self.trace.append((d.receiver, d.published, d.attempt, d.start, outcome, seen))
