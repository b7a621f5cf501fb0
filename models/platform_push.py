"""Platform push (FCM/APNs-like): the server hands each notification to a push service.

The server holds no connection to its clients.  For each notification it
makes one outbound API request (``request_cost`` on a node, the request's
bytes as egress; a topic or broadcast notification is one request, as a topic
send is); the push service then delivers it to every subscribed device after
its own ``latency`` (a distribution, drawn per device).

- **Quota.** At most ``quota_per_minute`` messages per minute of the run (FCM's
  default per-project quota: 600,000 messages a minute, docs/mobile.md);
  a message over it is refused (HTTP 429) and its deliveries are lost
  (``push_service.rejected``).  The minutes start at time 0 of the run.
- **Store and forward.** A device that is offline (``clients.session``,
  ``[profile]``) gets its messages when it comes back, each after a fresh
  ``latency`` draw.
- **Collapse keys.** With ``collapse_keys = k > 0`` notification ``n`` of a
  feed carries key ``n mod k``; while the device is offline only the newest
  message of each key is kept, older ones are superseded
  (``push_service.collapsed``, counted lost).  ``k = 1`` is a "something new"
  tickle.
- **Time to live.** A stored message older than ``ttl`` when the device comes
  back (or at the end of the run) is dropped (``push_service.expired``, lost);
  ``ttl = 0`` is "now or never": a message for an offline device is dropped.
- **Fetch.** With ``fetch = true`` the push is only a tickle: on receipt the app
  opens a connection (TCP and TLS round trips) and makes one request for the
  payload; the delivery is the response's last byte.  Without it the payload
  travels in the push message and the delivery is the push's arrival.

Event economy: nothing per delivery without ``fetch`` (deliveries are array
work at the publish, or at the device's return); one SimPy event per fetch.
"""

from __future__ import annotations

import numpy as np
import simpy
from pydantic import BaseModel, ConfigDict, Field

from models.base import Mechanism
from simulator.config import ExperimentConfig, Flag, Seconds, SecondsDist
from simulator.config.distributions import Distribution
from simulator.engine.simulation import Simulation

#: FCM's longest time to live, 2,419,200 s (28 days), also its default (docs/mobile.md).
FCM_MAX_TTL = 2_419_200.0
#: FCM's default downstream quota per project (messages per minute; docs/mobile.md).
FCM_QUOTA_PER_MINUTE = 600_000


class PlatformPushParams(BaseModel):
    """The `[mechanism]` keys of platform push (FCM/APNs-like)."""
    model_config = ConfigDict(extra="forbid")
    latency: SecondsDist = Field(
        Distribution("lognormal", 0.5, 0.5),
        description="Push service latency from the server's API request to the device, drawn per device"
        " (an assumption: no provider publishes one; docs/mobile.md).",
    )
    quota_per_minute: int = Field(
        FCM_QUOTA_PER_MINUTE, ge=0,
        description="Messages the push service accepts per minute (FCM default 600,000); more are refused"
        " and lost. 0 = no quota.",
    )
    ttl: Seconds = Field(
        FCM_MAX_TTL, ge=0, le=FCM_MAX_TTL,
        description="A message stored for an offline device is dropped after this long (FCM default and"
        " maximum 28 days); 0 = now or never.",
    )
    collapse_keys: int = Field(
        0, ge=0,
        description="Distinct collapse keys per feed (notification n carries key n mod k): an offline device"
        " keeps only the newest message of each; 0 = no collapsing.",
    )
    fetch: Flag = Field(
        False,
        description="The push is a tickle: on receipt the app fetches the payload from the server (one request).",
    )


class PlatformPush(Mechanism):
    """Platform push: each notification goes through a push service with a quota, TTL and collapse keys (docs/design.md §13)."""
    kind = "platform_push"
    order = 60
    Params = PlatformPushParams
    client_kinds = frozenset({"mobile", "browser"})  # an app or a browser registered for push
    summary = "the server hands each notification to a push service (FCM/APNs-like): quota, TTL, collapse keys"
    units = {
        "latency": "seconds (or a distribution)",
        "quota_per_minute": "messages per minute (0 = none)",
        "ttl": "seconds (0 = now or never)",
        "collapse_keys": "count (0 = none)",
        "fetch": "true | false",
    }
    bytes_per_client = 600

    @staticmethod
    def events_per_client_second(params: PlatformPushParams, workload) -> float:
        """One SimPy event per fetch, none otherwise (for the up-front size check)."""
        return workload.rate if params.fetch else 0.0

    @classmethod
    def read_delay(cls, config: ExperimentConfig) -> float:
        """An online device gets a message at once; an offline one when it returns."""
        return config.clients.offline if config.clients.session > 0 else 1.0

    def __init__(self, sim: Simulation):
        super().__init__(sim)
        p = sim.params
        c = sim.config
        self.latency = sim.streams.sampler("platform_push.latency", p.latency)
        self.quota = p.quota_per_minute
        self.ttl = p.ttl
        self.keys = p.collapse_keys
        self.fetch = p.fetch
        self.payload = c.workload.payload
        http = sim.http
        self.api_up = http.request_headers + self.payload  # server -> push service
        self.api_down = http.response_headers
        self.fetch_setup_trips = http.handshake_round_trips
        self.presence = sim.presence
        self.online = sim.presence.online if sim.presence.varies else None
        self.members = sim.log.feed_members()  # None for per-client feeds
        self.minute = -1
        self.sent_this_minute = 0
        #: Per offline device: [published, key, handed over] of each stored message, oldest first.
        self.stored: dict[int, list[list[float]]] = {}
        self.fetching = 0  # window deliveries whose fetch is under way
        self._settled = False

    def start(self) -> None:
        """Listen to publishes, and to devices coming back online (store-and-forward)."""
        self.sim.log.listen(self._on_publish)
        if self.online is not None:
            self.presence.online_listeners.append(self.come_online)

    # -- the server's API request ------------------------------------------------------
    def _on_publish(self, feed: int, seq: int, t: float) -> None:
        sim = self.sim
        m, log = sim.metrics, sim.log
        if self.members is None:
            log.skip(feed, seq + 1)  # the log need not keep it: the push service has it now
            n = 1
        else:
            ids = self.members[feed]
            log.cursor[ids] = seq + 1
            n = len(ids)
        if n == 0:
            return
        measured = m.t_start <= t <= m.t_end
        minute = int(t // 60.0)
        if minute != self.minute:
            self.minute, self.sent_this_minute = minute, 0
        if self.quota and self.sent_this_minute >= self.quota:
            if measured:
                m.push_service_rejected += 1
            m.lose(t, n)
            return
        node = sim.cluster.pick(feed)
        finish = node.process(t, node.request_cost()) if node is not None else -1.0
        if finish < 0:  # no node up, or it crashes first: the notification never leaves
            m.lose(t, n)
            return
        self.sent_this_minute += 1
        m.request(t, False)
        m.send_down(finish, self.api_up, self.payload)  # egress to the push service
        m.send_up(finish, self.api_down, 0.0)
        if measured:
            m.push_service_sent += 1
        key = seq % self.keys if self.keys else -1
        if self.members is None:  # one device: the scalar path (numpy's fixed cost would dominate)
            if self.online is not None and not self.online[feed]:
                self._store(feed, t, key, finish)
            else:
                self._receive_one(feed, t, finish + self.latency())
            return
        arrive = finish + self.latency.many(n)
        if self.online is not None:
            away = ~self.online[ids]
            if away.any():
                for c in ids[away].tolist():
                    self._store(c, t, key, finish)
                ids, arrive = ids[~away], arrive[~away]
        self._receive(ids, t, arrive)

    # -- the push service and the device ---------------------------------------------------
    def _receive(self, ids: np.ndarray, published: float | np.ndarray, arrive: np.ndarray) -> None:
        """The devices ``ids`` receive pushes of notifications ``published`` at ``arrive``."""
        if len(ids) == 0:
            return
        sim = self.sim
        if sim.radio is not None:
            sim.radio.activity_many(ids, arrive)
        published = np.broadcast_to(np.asarray(published, dtype=np.float64), arrive.shape)
        if not self.fetch:
            sim.metrics.deliver_many(published.copy(), arrive)
            return
        for c, pub, t_r in zip(ids.tolist(), published.tolist(), arrive.tolist(), strict=True):
            self._fetch_later(c, pub, t_r)

    def _receive_one(self, c: int, published: float, arrive: float) -> None:
        """:meth:`_receive` for one device and one notification."""
        sim = self.sim
        if sim.radio is not None:
            sim.radio.activity(c, arrive)
        if not self.fetch:
            sim.metrics.deliver(published, arrive)
            return
        self._fetch_later(c, published, arrive)

    def _fetch_later(self, c: int, published: float, t_received: float) -> None:
        """The app, having received the push at ``t_received``, asks the server for the payload."""
        sim = self.sim
        env, link, m = sim.env, sim.link, sim.metrics
        at_server = t_received + link.handshake(self.fetch_setup_trips) + link.one_way(self.api_down)
        if m.t_start <= published <= m.t_end:
            self.fetching += 1
        ev = env.timeout(max(0.0, at_server - env.now), value=(c, published, t_received))
        ev.callbacks.append(self._on_fetch)

    def _on_fetch(self, event: simpy.Event) -> None:
        """The app's request for the payload reaches the server."""
        c, published, t_received = event.value
        sim = self.sim
        m, link, now = sim.metrics, sim.link, sim.env.now
        if m.t_start <= published <= m.t_end:
            self.fetching -= 1
        http = sim.http
        m.send_up(now, http.request_headers + http.handshake_bytes_up, 0.0)
        node = sim.cluster.pick(c)
        finish = node.process(now, node.request_cost()) if node is not None else -1.0
        if finish < 0:
            m.lose(published)  # the app gives up on a server that is down
            return
        m.request(now, False)
        body = http.response_headers + self.payload
        m.send_down(finish, body + http.handshake_bytes_down, self.payload)
        arrived = finish + link.one_way(body)
        m.deliver(published, arrived)
        if sim.radio is not None:
            sim.radio.exchange(c, t_received, arrived)

    def _store(self, c: int, published: float, key: int, handed: float) -> None:
        """Device ``c`` is offline: the push service keeps the message (or drops it: TTL 0, collapse)."""
        m = self.sim.metrics
        measured = m.t_start <= published <= m.t_end
        if self.ttl <= 0:
            if measured:
                m.push_service_expired += 1
            m.lose(published)
            return
        queue = self.stored.setdefault(c, [])
        if key >= 0:
            for i, entry in enumerate(queue):
                if entry[1] == key:  # superseded by the newer message of the same key
                    old = queue.pop(i)[0]
                    if m.t_start <= old <= m.t_end:
                        m.push_service_collapsed += 1
                    m.lose(old)
                    break
        queue.append([published, key, handed])

    def come_online(self, ids: np.ndarray, t: float) -> None:
        """Devices back online get what is stored for them and still alive."""
        m = self.sim.metrics
        for c in ids.tolist():
            queue = self.stored.pop(c, None)
            if not queue:
                continue
            alive = [e[0] for e in queue if t - e[2] <= self.ttl]
            for e in queue:
                if t - e[2] > self.ttl:
                    if m.t_start <= e[0] <= m.t_end:
                        m.push_service_expired += 1
                    m.lose(e[0])
            if alive:
                n = len(alive)
                self._receive(np.full(n, c, dtype=np.int64), np.asarray(alive), t + self.latency.many(n))

    # -- the books ----------------------------------------------------------------------
    def _still_owed(self, now: float, settle: bool) -> int:
        """Window deliveries stored or being fetched; with ``settle``, expired ones are lost."""
        m = self.sim.metrics
        owed = self.fetching
        for queue in self.stored.values():
            keep = []
            for e in queue:
                if settle and now - e[2] > self.ttl:
                    if m.t_start <= e[0] <= m.t_end:
                        m.push_service_expired += 1
                    m.lose(e[0])
                    continue
                keep.append(e)
                owed += m.t_start <= e[0] <= m.t_end
            if settle:
                queue[:] = keep
        return owed

    def pending(self) -> int:
        """Stored for offline devices (within the TTL) or being fetched, at the end."""
        settle = not self._settled
        self._settled = True
        return self._still_owed(self.sim.env.now, settle)

    def outstanding(self) -> int:
        """Messages stored for offline devices within their TTL or being fetched now."""
        return self._still_owed(self.sim.env.now, False)
