"""The workload: feeds of notifications, appended to an event log that outlives nodes.

``workload.pattern`` decides the feeds: ``per_client`` gives each client its
own feed, ``broadcast`` one feed for all, ``topics`` T feeds with each client
subscribed to one, uniformly.  Publish times are generated for all feeds
together, in time order and in numpy blocks: Poisson feeds as one Poisson
stream of rate ``feeds * rate`` whose events pick a feed uniformly (the
superposition), periodic feeds each with a random phase.  The schedule depends
only on the seed and the workload keys, so every mechanism sees the same
notifications (common random numbers for honest comparisons).

The log is advanced lazily: a poll calls :meth:`EventLog.take`, which appends
everything published up to now and hands over what the client has not seen.
Push mechanisms call :meth:`EventLog.listen` to be woken at each publish.
Each client has a cursor (the sequence number of the next event it has not
received: its Last-Event-ID plus one), and what every subscriber has read is
trimmed, so memory follows what is pending, not what was published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import simpy

from simulator.config import WorkloadSection
from simulator.engine.metrics import Metrics
from simulator.engine.profile import LoadProfile

_BLOCK = 4096


class EventLog:
    """Per-feed publish times (seconds) and per-client read cursors."""

    def __init__(
        self,
        env: simpy.Environment,
        workload: WorkloadSection,
        clients: int,
        rng: np.random.Generator,
        metrics: Metrics,
        profile: LoadProfile | None = None,
    ):
        self.env = env
        self.metrics = metrics
        self.rate = workload.rate
        self.clients = clients
        self.pattern = workload.pattern
        self._per_client = workload.pattern == "per_client"
        if workload.pattern == "per_client":
            self.feeds = clients
            self.client_feed = np.arange(clients)
        elif workload.pattern == "broadcast":
            self.feeds = 1
            self.client_feed = np.zeros(clients, dtype=np.int64)
        else:
            self.feeds = workload.topics
            self.client_feed = rng.integers(0, workload.topics, clients)
        self.subscribers = np.bincount(self.client_feed, minlength=self.feeds)
        self._subs_list = self.subscribers.tolist()
        self._feed_of = self.client_feed.tolist()
        # per feed: retained publish times, seq of the first retained, count published
        # (a feed with nothing retained holds the shared empty tuple, not a list of its own:
        # a million clients' feeds are then one pointer each, and reading one touches no
        # object of its own; the first publish makes the list)
        self._times: list[list[float] | tuple] = [()] * self.feeds
        self._base = [0] * self.feeds
        self.count = [0] * self.feeds
        self._first_window_seq: list[int | None] = [None] * self.feeds
        self.cursor = np.zeros(clients, dtype=np.int64)
        self._rng = rng
        self._periodic = workload.arrivals == "periodic"
        # A rate profile: Poisson publishes thinned against the peak rate, on this same
        # stream (every mechanism sees the same notifications); periodic gaps scaled.
        self._profile = profile if profile is not None and "rate" in profile.applies_to else None
        self._cycle_start = 0.0
        if self._profile is not None and self._profile.peak <= 0:
            self.rate = 0.0  # a profile at 0 throughout: nothing is ever published
        self._block_times: list[float] = []
        self._block_feeds: list[int] = []
        self._i = 0
        self._clock = 0.0
        self._cycle = 0
        if self._periodic and self.rate > 0:
            period = 1.0 / self.rate
            phase = rng.uniform(0.0, period, self.feeds)
            self._order = np.argsort(phase, kind="stable")
            self._phase_sorted = phase[self._order]
        self.advanced_to = 0.0
        # Publish time of the next notification not appended yet (a lower bound until the
        # first advance; inf when nothing is ever published): advance's fast path.
        self._next_t = 0.0 if self.rate > 0 else math.inf
        self._listeners: list[Callable[[int, int, float], None]] = []

    # -- generation -------------------------------------------------------
    def _refill(self) -> None:
        if self._profile is not None:
            self._refill_profiled()
            return
        if self._periodic:
            period = 1.0 / self.rate
            times = self._phase_sorted + self._cycle * period
            feeds = self._order
            self._cycle += 1
        else:
            gaps = self._rng.exponential(1.0 / (self.rate * self.feeds), _BLOCK)
            times = self._clock + np.cumsum(gaps)
            self._clock = float(times[-1])
            feeds = self._rng.integers(0, self.feeds, _BLOCK)
        self._block_times = times.tolist()
        self._block_feeds = feeds.tolist()
        self._i = 0

    def _refill_profiled(self) -> None:
        """The next block under a rate profile (rate x multiplier(t)); never an empty block."""
        profile = self._profile
        if self._periodic:
            period = 1.0 / self.rate
            while True:
                level = profile.multiplier(self._cycle_start)
                start = self._cycle_start
                if level <= 1e-9 and profile.zero_after(start):
                    times, feeds = np.array([math.inf]), np.zeros(1, dtype=np.int64)
                    break
                if level > 1e-9:
                    self._cycle_start = start + period / level
                    times, feeds = start + self._phase_sorted / level, self._order
                    break
                self._cycle_start = start + period  # nothing published in a cycle at level 0
        else:
            peak = profile.peak
            while True:
                gaps = self._rng.exponential(1.0 / (self.rate * self.feeds * peak), _BLOCK)
                candidates = self._clock + np.cumsum(gaps)
                self._clock = float(candidates[-1])
                feeds_all = self._rng.integers(0, self.feeds, _BLOCK)
                keep = self._rng.random(_BLOCK) * peak < profile.multiplier(candidates)
                if keep.any():
                    times, feeds = candidates[keep], feeds_all[keep]
                    break
                if profile.zero_after(self._clock):  # at 0 for good: nothing more is published
                    times, feeds = np.array([math.inf]), np.zeros(1, dtype=np.int64)
                    break
        self._block_times = times.tolist()
        self._block_feeds = feeds.tolist()
        self._i = 0

    def next_time(self) -> float:
        """Publish time of the next notification not yet appended (inf if none)."""
        if self.rate <= 0:
            return math.inf
        if self._i >= len(self._block_times):
            self._refill()
        return self._block_times[self._i]

    def advance(self, t: float) -> None:
        """Append every notification published up to ``t`` (clamped to the run's end).

        ``t`` must not be in the future of the simulation clock: listeners are
        called for each appended notification, as of its publish time.
        """
        if t < self._next_t:  # nothing published since the last call: the common case
            if t > self.advanced_to:
                self.advanced_to = t if t < self.metrics.t_end else self.metrics.t_end
            return
        metrics = self.metrics
        t_start, t_end = metrics.t_start, metrics.t_end
        if t > t_end:
            t = t_end
        if t <= self.advanced_to or self.rate <= 0:
            return
        self.advanced_to = t
        times_of = self._times
        count = self.count
        subs = self._subs_list
        first_window = self._first_window_seq
        listeners = self._listeners
        while True:
            if self._i >= len(self._block_times):
                self._refill()
            bt, bf = self._block_times, self._block_feeds
            i, n = self._i, len(bt)
            while i < n:
                pt = bt[i]
                if pt > t:
                    self._i = i
                    self._next_t = pt
                    return
                f = bf[i]
                retained = times_of[f]
                if retained:
                    retained.append(pt)
                else:
                    times_of[f] = [pt]
                seq = count[f]
                if pt >= t_start and first_window[f] is None:
                    first_window[f] = seq
                count[f] = seq + 1
                if t_start <= pt <= t_end:  # Metrics.in_window, inlined in this hot loop: owed per subscriber
                    metrics.owed += subs[f]
                    metrics.published += 1
                i += 1
                if listeners:
                    self._i = i
                    for callback in listeners:
                        callback(f, seq, pt)
            self._i = i

    # -- reading ------------------------------------------------------------
    def feed_members(self) -> list[np.ndarray] | None:
        """The clients of each feed, in client order (None for per-client feeds: feed c is client c)."""
        if self.pattern == "per_client":
            return None
        order = np.argsort(self.client_feed, kind="stable")
        bounds = np.searchsorted(self.client_feed[order], np.arange(self.feeds + 1))
        return [order[bounds[f]: bounds[f + 1]] for f in range(self.feeds)]

    def feed_of(self, client: int) -> int:
        """The feed a client reads (per client: the client's own index, no lookup)."""
        return client if self._per_client else self._feed_of[client]  # per client: no cold lookup

    def take(self, client: int, t: float) -> Sequence[float]:
        """Publish times of what ``client`` has not received up to ``t``; marks them read."""
        self.advance(t)
        if self._per_client:  # feed c is client c: no lookup (a cold cache line at a million clients)
            times = self._times[client]
            if times:
                self._times[client] = ()
                self._base[client] = self.cursor[client] = self.count[client]
            return times
        f = self._feed_of[client]
        start = int(self.cursor[client]) - self._base[f]
        times = self._times[f][start:]
        self.cursor[client] = self.count[f]
        if len(self._times[f]) > 1024:
            self._trim(f)
        return times

    def peek(self, client: int, t: float) -> bool:
        """Whether anything is pending for ``client`` at ``t``."""
        self.advance(t)
        return self.count[self._feed_of[client]] > int(self.cursor[client])

    def times_from(self, feed: int, seq: int) -> Sequence[float]:
        """Retained publish times of ``feed`` from sequence number ``seq`` on."""
        return self._times[feed][max(0, seq - self._base[feed]) :]

    def skip(self, client: int, upto: int) -> Sequence[float]:
        """Move ``client``'s cursor to ``upto`` without delivering; the skipped publish times."""
        f = client if self._per_client else self._feed_of[client]
        old = int(self.cursor[client])
        if upto <= old:
            return []
        skipped = self._times[f][old - self._base[f] : upto - self._base[f]]
        self.cursor[client] = upto
        if self._per_client:
            del self._times[f][: upto - self._base[f]]
            self._base[f] = upto
        return skipped

    def _trim(self, f: int) -> None:
        members = np.nonzero(self.client_feed == f)[0] if self.pattern == "topics" else None
        low = int(self.cursor.min() if members is None else self.cursor[members].min())
        drop = low - self._base[f]
        if drop > 0:
            del self._times[f][:drop]
            self._base[f] = low

    # -- push -------------------------------------------------------------------
    def listen(self, callback: Callable[[int, int, float], None]) -> None:
        """Call ``callback(feed, seq, t)`` at each publish, from a SimPy process."""
        if not self._listeners:
            self.env.process(self._publisher())
        self._listeners.append(callback)

    def _publisher(self) -> Iterator[simpy.Event]:
        env = self.env
        end = self.metrics.t_end
        while True:
            t = self.next_time()
            if t > end:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.advance(t)  # calls the listeners for each notification appended

    def first_after(self, t: float, horizon: float) -> np.ndarray:
        """Each feed's first publish time in ``(t, t + horizon]`` (inf if none), seconds.

        Reads on into the schedule the seed continues with, past the run's end if
        need be, without changing the log: its block, position and generator state
        are restored.  Long polling uses it to tell how a poll still held at the
        window's end would end (nothing is published after ``t_end``).
        """
        first = np.full(self.feeds, math.inf)
        if self.rate <= 0:
            return first
        saved = (self._block_times, self._block_feeds, self._i, self._clock, self._cycle, self._cycle_start)
        rng_state = self._rng.bit_generator.state
        until = t + horizon
        try:
            i = self._i
            while True:
                if i >= len(self._block_times):
                    self._refill()
                    i = 0
                pt, f = self._block_times[i], self._block_feeds[i]
                if pt > until:
                    return first
                if pt > t and first[f] == math.inf:
                    first[f] = pt
                i += 1
        finally:
            self._block_times, self._block_feeds, self._i, self._clock, self._cycle, self._cycle_start = saved
            self._rng.bit_generator.state = rng_state

    # -- the books --------------------------------------------------------------
    def pending_in_window(self) -> int:
        """Deliveries owed in the window that no client has received yet (at the end)."""
        self.advance(self.metrics.t_end)
        first = np.array(
            [s if s is not None else c for s, c in zip(self._first_window_seq, self.count, strict=True)],
            dtype=np.int64,
        )
        counts = np.asarray(self.count, dtype=np.int64)
        feed = self.client_feed
        unread = counts[feed] - np.maximum(self.cursor, first[feed])
        return int(np.clip(unread, 0, None).sum())
