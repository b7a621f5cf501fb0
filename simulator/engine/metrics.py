"""What a run measures: counters, histograms, a time-weighted gauge and windows.

One :class:`Metrics` object per run.  Everything is measured over the window
``[t_start, t_end]`` after the warm-up (docs/design.md §5): notifications published,
requests received, bytes sent and busy time inside it.  Per-window series (one
row per ``sample_every``) cover the whole run so the warm-up transient stays
visible in ``timeseries.csv``.

Hot-path methods do the least work they can: a comparison against the window
and a few integer adds.  Memory is bounded: histograms are log-bucketed and
the window series are fixed-length lists.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from simulator.engine.histogram import LatencyHistogram

# Coarse per-window latency buckets (10 % wide) for the timeseries p50/p99.
_WINDOW_RATIO = 1.1
_WINDOW_LOWEST = 1e-6
_WINDOW_LOG = math.log(_WINDOW_RATIO)


def _count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` and their counts, ascending (as ``np.unique(return_counts=True)``).

    A fan-out burst's keys span a narrow range: counting them with a bincount
    over that range is O(n), where ``np.unique`` sorts.
    """
    lo = int(keys.min())
    span = int(keys.max()) - lo + 1
    if span > 4 * len(keys) + 4096:
        return np.unique(keys, return_counts=True)
    counts = np.bincount(keys - lo, minlength=span)
    present = np.flatnonzero(counts)
    return present + lo, counts[present]


class Metrics:
    """All measurements of one run (seconds, bytes, counts)."""

    def __init__(
        self, t_start: float, t_end: float, sample_every: float, nodes: int, drain: float = 0.0
    ):
        self.t_start = t_start
        self.t_end = t_end
        # Deliveries of window notifications arriving up to t_stop still count (the drain);
        # later ones are pending.  Nothing else is measured after t_end.
        self.t_stop = t_end + drain
        self.sample_every = sample_every
        self.n_windows = max(1, math.ceil(t_end / sample_every - 1e-9))
        n = self.n_windows
        self.latency = LatencyHistogram()
        self.queue_wait = LatencyHistogram()
        # deliveries (only notifications published inside the window)
        self.owed = 0
        self.published = 0  # notifications published (a broadcast is one)
        self.delivered = 0
        self.lost = 0
        self.duplicates = 0
        self.in_flight = 0  # sent before t_end, arriving after it: still pending
        # requests and messages (received or written inside the window)
        self.requests = 0
        self.empty_requests = 0
        self.messages_pushed = 0
        self.heartbeats = 0
        self.upstream_messages = 0
        # connections
        self.connections_opened = 0
        self.connections_refused = 0
        self.connections_dropped = 0
        self.connections_drained = 0
        self.reconnects = 0
        self.connections_aged_out = 0
        self.quota_throttled = 0  # connection attempts a service quota delayed
        self.half_open: list[tuple[float, float]] = []  # (from, until) of each half-open connection
        # bytes sent inside the window
        self.bytes_down = 0.0
        self.bytes_up = 0.0
        self.payload_down = 0.0
        self.payload_up = 0.0
        # webhook
        self.webhook_attempts = 0
        self.webhook_retries = 0
        self.webhook_gave_up = 0
        # a platform push service between server and devices (sent to it, refused over its
        # quota, superseded by a newer message of the same collapse key, expired past the TTL)
        self.push_service_sent = 0
        self.push_service_rejected = 0
        self.push_service_collapsed = 0
        self.push_service_expired = 0
        # time-weighted gauge of open connections (all nodes)
        self.open_connections = 0
        self._gauge_t = 0.0
        self._gauge_area = 0.0
        self.connections_peak = 0
        self.node_connections_peak = [0] * nodes
        # per-window series
        self.w_requests = [0] * n
        self.w_deliveries = [0] * n
        self.w_bytes = [0.0] * n
        self.w_reconnects = [0] * n
        self.w_busy = [[0.0] * n for _ in range(nodes)]
        self.busy_measured = [0.0] * nodes  # busy seconds of each node inside [t_start, t_end]
        self.w_connections = [0] * n
        self.w_memory = [0.0] * n
        self._w_latency: dict[int, int] = defaultdict(int)

    # -- time helpers -----------------------------------------------------
    def window(self, t: float) -> int:
        """Index of the sample window holding time ``t`` (seconds)."""
        w = int(t / self.sample_every)
        return w if w < self.n_windows else self.n_windows - 1

    def in_window(self, t: float) -> bool:
        """Whether ``t`` falls in the measured window ``[t_start, t_end]`` (the one window test).

        Inlined (as ``t_start <= t <= t_end``) only in this class and on the per-request and
        per-delivery paths of nodes and fan-out, where a call per event costs measurable time.
        """
        return self.t_start <= t <= self.t_end

    # -- deliveries --------------------------------------------------------
    def publish(self, t: float, subscribers: int) -> None:
        """A notification published at ``t`` owes ``subscribers`` deliveries."""
        if self.t_start <= t <= self.t_end:
            self.owed += subscribers
            self.published += 1

    def deliver(self, published: float, arrived: float) -> None:
        """First copy of one delivery arrives at the client (times in seconds)."""
        if published < self.t_start or published > self.t_end:
            return
        if arrived > self.t_stop:
            self.in_flight += 1
            return
        self.delivered += 1
        latency = arrived - published
        self.latency.add(latency)
        if arrived > self.t_end:  # delivered in the drain: no window of the time series
            return
        w = int(arrived / self.sample_every)
        if w >= self.n_windows:  # arrived exactly at t_end: the last window
            w = self.n_windows - 1
        self.w_deliveries[w] += 1
        if latency >= _WINDOW_LOWEST:
            b = int(math.log(latency / _WINDOW_LOWEST) / _WINDOW_LOG) + 1
        else:
            b = 0
        self._w_latency[w * 1000 + b] += 1

    def deliver_response(self, published: list[float], arrived: float) -> None:
        """Every notification in ``published`` arrives with one response at ``arrived``.

        A big response (a poll after a burst, a busy topic) goes through the array path,
        so its cost does not grow with per-delivery Python work.
        """
        if len(published) > 16:
            self.deliver_many(np.asarray(published, dtype=np.float64), np.full(len(published), arrived))
        else:
            for t in published:
                self.deliver(t, arrived)

    def deliver_many(self, published: np.ndarray, arrived: np.ndarray) -> None:
        """Vector form of :meth:`deliver` for bulk fan-out."""
        keep = (published >= self.t_start) & (published <= self.t_end)
        if not keep.all():
            published, arrived = published[keep], arrived[keep]
        late = arrived > self.t_stop
        n_late = int(late.sum())
        if n_late:
            self.in_flight += n_late
            published, arrived = published[~late], arrived[~late]
        if len(arrived) == 0:
            return
        self.delivered += len(arrived)
        latency = arrived - published
        self.latency.add_many(latency)
        drained = arrived > self.t_end  # no window of the time series
        if drained.any():
            arrived, latency = arrived[~drained], latency[~drained]
            if len(arrived) == 0:
                return
        w = np.minimum((arrived / self.sample_every).astype(np.int64), self.n_windows - 1)
        b = np.where(
            latency >= _WINDOW_LOWEST,
            (np.log(np.maximum(latency, _WINDOW_LOWEST) / _WINDOW_LOWEST) / _WINDOW_LOG).astype(
                np.int64
            )
            + 1,
            0,
        )
        keys, counts = _count_keys(w * 1000 + b)
        wl = self._w_latency
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            wl[key] += count
        wk, wc = _count_keys(w)
        wd = self.w_deliveries
        for key, count in zip(wk.tolist(), wc.tolist(), strict=True):
            wd[key] += count

    def lose(self, published: float, count: int = 1) -> None:
        """``count`` deliveries of a notification published at ``published`` are lost."""
        if self.t_start <= published <= self.t_end:
            self.lost += count

    def duplicate(self, published: float, arrived: float) -> None:
        """An extra copy of an already delivered notification."""
        if self.t_start <= published <= self.t_end and arrived <= self.t_stop:
            self.duplicates += 1

    # -- requests, messages and bytes ------------------------------------
    def request(self, t: float, empty: bool) -> None:
        """An HTTP request received by a server at ``t``."""
        if self.t_start <= t <= self.t_end:
            self.requests += 1
            if empty:
                self.empty_requests += 1
        if t <= self.t_end:
            self.w_requests[min(int(t / self.sample_every), self.n_windows - 1)] += 1

    def send_down(self, t: float, total_bytes: float, payload_bytes: float) -> None:
        """Bytes written server -> client at ``t``."""
        if self.t_start <= t <= self.t_end:
            self.bytes_down += total_bytes
            self.payload_down += payload_bytes
        if t <= self.t_end:
            self.w_bytes[min(int(t / self.sample_every), self.n_windows - 1)] += total_bytes

    def send_up(self, t: float, total_bytes: float, payload_bytes: float) -> None:
        """Bytes written client -> server at ``t``."""
        if self.t_start <= t <= self.t_end:
            self.bytes_up += total_bytes
            self.payload_up += payload_bytes
        if t <= self.t_end:
            self.w_bytes[min(int(t / self.sample_every), self.n_windows - 1)] += total_bytes

    def send_both_ways(self, t: float, up_bytes: float, down_bytes: float) -> None:
        """A connection set-up's bytes at ``t``: :meth:`send_up` then :meth:`send_down`, no payload."""
        if self.t_start <= t <= self.t_end:
            self.bytes_up += up_bytes
            self.bytes_down += down_bytes
        if t <= self.t_end:
            w = min(int(t / self.sample_every), self.n_windows - 1)
            w_bytes = self.w_bytes
            w_bytes[w] += up_bytes  # two adds, as two calls would make them (same rounding)
            w_bytes[w] += down_bytes

    def busy(self, node: int, start: float, end: float) -> None:
        """A worker of ``node`` was busy over ``[start, end]`` (split across windows)."""
        if end > self.t_end:  # nothing is measured after the window
            end = self.t_end
        if end <= start:
            return
        lo = start if start > self.t_start else self.t_start
        if end > lo:  # exact, whether or not t_start falls on a window edge
            self.busy_measured[node] += end - lo
        series = self.w_busy[node]
        step = self.sample_every
        w = int(start / step)
        if end <= (w + 1) * step:  # inside one window: nearly every request
            series[w] += end - start
            return
        last = self.n_windows - 1
        while start < end and w <= last:
            edge = (w + 1) * step if w < last else end
            stop = end if end < edge else edge
            series[w] += stop - start
            start = stop
            w += 1

    def add_busy_windows(self, node: int, extra: np.ndarray, workers: int) -> None:
        """Add bulk busy seconds ``extra`` (one value per window) to ``node``'s busy series.

        Bulk work (heartbeats, upstream messages: :mod:`simulator.engine.connections.accounting`)
        is settled without going through the worker queue.  In a window the ``workers``
        already fill (a reconnect storm's handshakes) it would push the busy time past
        the window's capacity; real workers would do it as soon as they are free, so the
        excess moves on to the next window.  Busy time is conserved (up to what spills
        past the last window) and no window is busier than ``width * workers``.
        """
        series = self.w_busy[node]
        step = self.sample_every
        last = self.n_windows - 1
        carry = 0.0
        for w, amount in enumerate(extra.tolist()):
            if amount == 0.0 and carry == 0.0:
                continue
            width = step if w < last else self.t_end - last * step
            room = width * workers - series[w]
            add = amount + carry
            if add <= room:
                series[w] += add
                carry = 0.0
            elif room > 0:
                series[w] += room
                carry = add - room
            else:
                carry = add

    # -- connections --------------------------------------------------------
    def connections_changed(self, t: float, delta: int, node: int, node_count: int) -> None:
        """The open-connection count changed by ``delta`` at ``t`` (node now has ``node_count``)."""
        lo = self._gauge_t if self._gauge_t > self.t_start else self.t_start
        hi = t if t < self.t_end else self.t_end
        if hi > lo:
            self._gauge_area += self.open_connections * (hi - lo)
        self._gauge_t = t
        self.open_connections += delta
        if delta > 0 and self.t_start <= t <= self.t_end:
            if self.open_connections > self.connections_peak:
                self.connections_peak = self.open_connections
            if node_count > self.node_connections_peak[node]:
                self.node_connections_peak[node] = node_count

    def start_window(self, node_counts: list[int] | None = None) -> None:
        """At ``t_start``: the gauges' peaks start from the current values (``node_counts`` per node)."""
        self.connections_peak = max(self.connections_peak, self.open_connections)
        if node_counts is not None:
            peaks = self.node_connections_peak
            for i, count in enumerate(node_counts):
                if count > peaks[i]:
                    peaks[i] = count

    def connection_opened(self, t: float) -> None:
        """Count a connection opened at `t` if `t` is in the measured window."""
        if self.t_start <= t <= self.t_end:
            self.connections_opened += 1

    def connection_refused(self, t: float) -> None:
        """Count a connection refused at `t` if `t` is in the measured window."""
        if self.t_start <= t <= self.t_end:
            self.connections_refused += 1

    def connections_lost(self, t: float, count: int) -> None:
        """``count`` open connections dropped (crash, balancer idle timeout)."""
        if self.t_start <= t <= self.t_end:
            self.connections_dropped += count

    def connections_aged(self, t: float, count: int) -> None:
        """``count`` connections closed at ``t`` by the platform for their age (``max_connection_age``)."""
        if self.t_start <= t <= self.t_end:
            self.connections_aged_out += count

    def half_opened(self, t_from: float, t_until: float) -> None:
        """A connection is half-open over ``[t_from, t_until)``: its client is gone, the server holds it."""
        self.half_open.append((t_from, t_until))

    def half_open_peak(self) -> int:
        """Most connections half-open at once inside ``[t_start, t_end]``."""
        if not self.half_open:
            return 0
        spans = np.asarray(self.half_open, dtype=np.float64)
        a = np.maximum(spans[:, 0], self.t_start)
        b = np.minimum(spans[:, 1], self.t_end)
        keep = (a <= b) & (spans[:, 1] > spans[:, 0])
        a, b = a[keep], b[keep]
        if len(a) == 0:
            return 0
        # ends sort before starts at the same instant: a connection that closes as another opens
        times = np.concatenate((a, b))
        steps = np.concatenate((np.ones(len(a)), -np.ones(len(b))))
        order = np.lexsort((steps, times))
        return int(np.cumsum(steps[order]).max())

    def connections_drain(self, t: float, count: int) -> None:
        """``count`` connections closed by a leaving node (a drain, not a crash)."""
        if self.t_start <= t <= self.t_end:
            self.connections_drained += count

    def quota_throttle(self, t: float) -> None:
        """A connection attempt at ``t`` waits for the service's new-connection quota."""
        if self.t_start <= t <= self.t_end:
            self.quota_throttled += 1

    def reconnect(self, t: float) -> None:
        """A connection attempt after a drop."""
        if self.t_start <= t <= self.t_end:
            self.reconnects += 1
        if t <= self.t_end:
            self.w_reconnects[min(int(t / self.sample_every), self.n_windows - 1)] += 1

    def sample(self, t: float, memory_bytes: float) -> None:
        """Point sample of the gauges at the end of a window."""
        w = self.window(t - 1e-12) if t > 0 else 0
        self.w_connections[w] = self.open_connections
        self.w_memory[w] = memory_bytes

    # -- results -------------------------------------------------------------
    def connections_mean(self) -> float:
        """Time-weighted mean of open connections over the window."""
        area = self._gauge_area
        lo = self._gauge_t if self._gauge_t > self.t_start else self.t_start
        if self.t_end > lo:
            area += self.open_connections * (self.t_end - lo)
        span = self.t_end - self.t_start
        return area / span if span > 0 else 0.0

    def window_latency_quantiles(self, qs: tuple[float, ...]) -> np.ndarray:
        """Per-window latency quantiles from the coarse window histograms: shape (n, len(qs))."""
        out = np.full((self.n_windows, len(qs)), np.nan)
        per_window: dict[int, dict[int, int]] = defaultdict(dict)
        for key, count in self._w_latency.items():
            per_window[key // 1000][key % 1000] = count
        for w, buckets in per_window.items():
            if w >= self.n_windows:
                continue
            items = sorted(buckets.items())
            total = sum(c for _, c in items)
            for j, q in enumerate(qs):
                rank = max(1, math.ceil(q * total))
                running = 0
                for b, c in items:
                    running += c
                    if running >= rank:
                        out[w, j] = 0.0 if b == 0 else _WINDOW_LOWEST * _WINDOW_RATIO ** (b - 0.5)
                        break
        return out


def node_cpu(busy_fraction, idle_cpu: float, up_fraction=1.0):
    """A node's CPU utilisation: ``server.idle_cpu`` while up, plus the work's share.

    The workers run at ``1 - idle_cpu`` of their cores, so ``busy_fraction`` (of the
    workers' time, stretched service included) is worth ``(1 - idle_cpu)`` of the
    cores: at most ``idle_cpu + (1 - idle_cpu) = 1``.  Numbers or numpy arrays.
    """
    if idle_cpu == 0.0:
        return busy_fraction
    return idle_cpu * up_fraction + (1.0 - idle_cpu) * busy_fraction
