"""One connection lifecycle for every mechanism whose clients connect to the cluster.

Whatever rides on it (an SSE stream, a WebSocket, a held long poll, a short
poll's kept-alive socket), a connection goes through the same steps:

1. *attempt* (:meth:`Lifecycle.open_connection`): the balancer picks a node and
   the node opens a slot; no node up, or the node full or down, is a refusal.
   An attempt after a failure is a reconnect (``reconnects.total``);
2. *live*: the mechanism's traffic, through its hooks;
3. *drop*: a crash (:meth:`Lifecycle.on_crash`), the balancer's idle cut, or the
   node dying under a request;
4. *retry with backoff* (:meth:`Lifecycle.back_off`, or
   :meth:`Lifecycle.back_off_many` with vectorised draws for a crash's population),
   counted from when the client notices the failure.

Per-client state lives in numpy arrays, one slot per client; callbacks are
plain SimPy timeouts, no process per client.  Every hook has a documented
default, as in SimPy's ``resources/base.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simulator.config import ExperimentConfig
from simulator.config.services import SERVICES
from simulator.engine.node import ServerNode
from simulator.engine.simulation import Simulation


def quota_rate(config: ExperimentConfig) -> float:
    """New connections per second the deployment admits (0: no quota)."""
    service = SERVICES.get(config.deployment.kind)
    return service.quotas.new_connections_per_second if service is not None else 0.0


class Lifecycle:
    """Connections of ``sim.clients`` clients to the cluster: attempt, live, drop, retry."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.env = sim.env
        self.nodes = sim.cluster.nodes
        n = sim.clients
        self.node_of = np.full(n, -1, dtype=np.int64)  # index of the client's node, -1 if none
        self.epoch_of = np.zeros(n, dtype=np.int64)  # that node's epoch when it was opened
        self.attempt = np.zeros(n, dtype=np.int64)  # consecutive failures (backoff attempt number)
        self.prev_delay = np.zeros(n)  # last backoff delay (decorrelated jitter)
        self.reconnecting = np.zeros(n, dtype=bool)  # the next attempt follows a failure
        self.reuse_window = self.reuse_window_of(sim.config)
        http = sim.http  # read once: a connection set-up is on the hot path of cold clients
        self.setup_round_trips = (http.handshake_round_trips, http.resumed_round_trips)
        self.setup_bytes = (http.handshake_bytes_up, http.handshake_bytes_down)
        self.connected_before = bytearray(n)  # 1: the client knew a server (HTTP/3 resumes with 0-RTT)
        for node in self.nodes:
            node.crash_listeners.append(self.on_crash)
        # Clients going offline and coming back (clients.session, [profile]); see go_offline.
        presence = sim.presence
        self.online = presence.online
        self.churns = presence.varies
        # a connect is scheduled (first attempt or backoff retry): a returning client waits for it
        self.waiting = np.ones(n, dtype=bool)
        if presence.varies:
            presence.offline_listeners.append(self.go_offline)
            presence.online_listeners.append(self.come_online)
        sim.cluster.listeners.append(self.drain)
        # A managed service's new-connection quota: attempts are admitted one per interval,
        # in arrival order; one arriving early waits for its turn (quota.throttled).
        rate = quota_rate(sim.config)
        self.quota_interval = 1.0 / rate if rate > 0 else 0.0
        self.next_admission = 0.0

    @staticmethod
    def reuse_window_of(config: ExperimentConfig) -> float:
        """How long an idle kept-alive connection stays usable (the balancer may cut it sooner)."""
        keep, idle = config.http.keep_alive_timeout, config.cluster.idle_timeout
        return min(keep, idle) if idle > 0 else keep

    # -- hooks ----------------------------------------------------------------------
    def connect(self, c: int) -> None:
        """Hook: client ``c`` makes an attempt now (a retry fired).

        Default: past the service's new-connection quota (:meth:`admit`),
        :meth:`open_connection`, then :meth:`on_open`; refused: back off.
        """
        if self.quota_interval and not self.admit(c):
            return
        self.attempt_now(c)

    def admit(self, c: int) -> bool:
        """Whether ``c``'s attempt passes the quota now; if not, it is retried at its turn."""
        now = self.env.now
        turn = self.next_admission if self.next_admission > now else now
        self.next_admission = turn + self.quota_interval
        if turn <= now:
            return True
        self.sim.metrics.quota_throttle(now)
        self.waiting[c] = True
        self.env.timeout(turn - now, value=c).callbacks.append(self._fire_admitted)
        return False

    def _fire_admitted(self, event: simpy.Event) -> None:
        c = event.value
        self.waiting[c] = False
        if self.online[c]:
            self.attempt_now(c)

    def attempt_now(self, c: int) -> None:
        """``c``'s attempt, admitted: open a connection, or back off if refused."""
        now = self.env.now
        node = self.open_connection(c, now)
        if node is None:
            self.back_off(c)
        else:
            self.on_open(c, node, now)

    def on_open(self, c: int, node: ServerNode, now: float) -> None:
        """Hook: ``c``'s connection to ``node`` is open at ``now``; send what goes on it.

        Default: nothing (a connection that carries nothing until used).
        """

    def remember_connection(self, c: int, node: ServerNode) -> None:
        """Hook: ``c``'s new connection is to ``node`` (opened in its current epoch).

        Default: :attr:`node_of` and :attr:`epoch_of`, which :meth:`drain`,
        :meth:`cut_idle` and :meth:`is_broken` read.  A mechanism that keeps its own
        record and uses none of those may keep it there instead (one random write per
        array at a million clients is a cache miss).
        """
        self.node_of[c] = node.index
        self.epoch_of[c] = node.epoch

    def on_crash(self, node: ServerNode, t: float) -> None:
        """Hook: ``node`` crashed at ``t`` (its connections and queue are gone).

        Default: nothing; a client notices the broken connection when it next uses it
        (:meth:`is_broken`).
        """

    def go_offline(self, ids: np.ndarray, t: float) -> None:
        """Hook: the clients ``ids`` went offline at ``t``.

        They close their connections (not a drop, not a failure) and nothing more is
        sent to them; what is published for them stays owed.  A scheduled attempt of
        an offline client is skipped (:meth:`_fire_connect`).  Default: nothing more.
        """

    def come_online(self, ids: np.ndarray, t: float) -> None:
        """Hook: the clients ``ids`` came back at ``t``: a fresh attempt, not a reconnect.

        Default: each client without an attempt already scheduled connects now
        (:meth:`connect`), starting its backoff afresh.
        """
        for c in ids.tolist():
            if not self.waiting[c]:
                self.reconnecting[c] = False
                self.attempt[c] = 0
                self.prev_delay[c] = 0.0
                self.connect(c)

    def on_drain(self, c: int, node: ServerNode, t: float) -> None:
        """Hook: ``node`` is leaving and closes ``c``'s connection at ``t`` (a drain, not a crash).

        Default: nothing; whatever is still open when the node retires closes then
        (counted as drained) and its clients notice as after a crash.
        """

    # -- steps ----------------------------------------------------------------------
    def drain(self, node: ServerNode, over: float) -> None:
        """``node`` starts draining now: its clients' connections close evenly spread over ``over``.

        The k-th of n closes comes at ``now + over * (k + 0.5) / n`` (no random draw, so
        no other stream moves); each is :meth:`on_drain` if the client is still there.
        """
        k = node.index
        ids = np.nonzero(self.node_of == k)[0]
        if len(ids) == 0 or over <= 0:
            return  # all at once: the node's retirement closes them
        epoch = node.epoch
        n = len(ids)
        for j, c in enumerate(ids.tolist()):
            event = self.env.timeout(over * (j + 0.5) / n, value=(c, k, epoch))
            event.callbacks.append(self._fire_drain)

    def drained(self, c: int, node: ServerNode, t: float) -> None:
        """Close ``c``'s connection to ``node`` at ``t`` for the drain (``connections.drained``)."""
        self.sim.cluster.settle(t)
        node.close(t, int(self.epoch_of[c]))
        self.sim.metrics.connections_drain(t, 1)

    def _fire_drain(self, event: simpy.Event) -> None:
        c, k, epoch = event.value
        node = self.nodes[k]
        if self.node_of[c] == k and self.epoch_of[c] == epoch and node.epoch == epoch:
            self.on_drain(c, node, self.env.now)

    def open_connection(self, c: int, now: float) -> ServerNode | None:
        """An attempt of client ``c`` at ``now``: the node that opened it, or None if refused."""
        sim = self.sim
        cluster = sim.cluster
        reconnecting = self.reconnecting[c]
        if reconnecting:
            sim.metrics.reconnect(now)
        cluster.settle(now)
        node = cluster.pick(c)
        if node is None:
            sim.metrics.connection_refused(now)  # no node up: the balancer answers 503
            self.reconnecting[c] = True
            return None
        if not node.open(now):
            self.reconnecting[c] = True
            return None
        if reconnecting:
            self.reconnecting[c] = False
        self.remember_connection(c, node)
        return node

    def handshake(self, c: int, now: float) -> float:
        """TCP (+TLS) set-up of client ``c``'s new connection at ``now``: its bytes counted, its seconds.

        A client that was connected before resumes (HTTP/3: 0-RTT).
        """
        sim = self.sim
        before = self.connected_before
        setup = sim.link.handshake(self.setup_round_trips[before[c]])
        before[c] = 1
        up, down = self.setup_bytes
        sim.metrics.send_both_ways(now, up, down)
        return setup

    def cut_idle(self, ids: list[int], now: float) -> None:
        """The balancer cuts the idle connections ``ids`` at ``now`` (``connections.dropped``)."""
        self.sim.cluster.settle(now)
        for c in ids:
            self.nodes[self.node_of[c]].close(now, int(self.epoch_of[c]))
        self.sim.metrics.connections_lost(now, len(ids))

    def is_broken(self, c: int, node: ServerNode) -> bool:
        """Whether ``c``'s connection to ``node`` died in a crash since it was opened."""
        return node.epoch != self.epoch_of[c]

    def went_live(self, c: int) -> None:
        """``c`` got through: the next failure backs off from the first delay again."""
        self.attempt[c] = 0
        self.prev_delay[c] = 0.0

    def back_off(self, c: int, t_detect: float | None = None) -> None:
        """``c``'s attempt or connection failed; it noticed at ``t_detect`` (default now).

        The next attempt (:meth:`connect`) comes ``backoff.delay`` later.
        """
        a = int(self.attempt[c])
        delay = self.sim.backoff.delay(a, float(self.prev_delay[c]))
        self.attempt[c] = a + 1
        self.prev_delay[c] = delay
        self.reconnecting[c] = True
        self.node_of[c] = -1
        self.waiting[c] = True
        if t_detect is None:
            event = self.env.timeout(delay, value=c)
        else:
            event = self.env.timeout(t_detect + delay - self.env.now, value=c)
        event.callbacks.append(self._fire_connect)

    def back_off_many(self, ids: np.ndarray) -> None:
        """The connections ``ids`` failed together now (a crash, an idle cut): vectorised draws."""
        self.back_off_many_at(ids, None)

    def back_off_many_at(self, ids: np.ndarray, t_detect: np.ndarray | None) -> None:
        """Like :meth:`back_off_many`, but client ``ids[i]`` noticed the failure at ``t_detect[i]``.

        Used when clients learn of a dead connection late (``network.dead_peer_timeout``);
        None: they notice now.
        """
        delays = self.sim.backoff.delays(self.attempt[ids], self.prev_delay[ids])
        self.attempt[ids] += 1
        self.prev_delay[ids] = delays
        self.reconnecting[ids] = True
        self.node_of[ids] = -1
        self.waiting[ids] = True
        env = self.env
        fire = self._fire_connect
        waits = delays
        if t_detect is not None:
            waits = np.maximum(np.asarray(t_detect, dtype=np.float64) - env.now, 0.0) + delays
        for c, d in zip(ids.tolist(), waits.tolist(), strict=True):
            env.timeout(d, value=c).callbacks.append(fire)

    def call_at(self, t: float, c: int, callback: Callable[[simpy.Event], None]) -> None:
        """Call ``callback(event)`` at time ``t`` with ``event.value == c`` (one SimPy event)."""
        self.env.timeout(t - self.env.now, c).callbacks.append(callback)

    def _fire_connect(self, event: simpy.Event) -> None:
        c = event.value
        self.waiting[c] = False
        if self.online[c]:
            self.connect(c)
