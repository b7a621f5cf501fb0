"""A calendar of per-client actions, run between SimPy's own events.

A million polling clients as a million SimPy processes cost a generator, a
heap entry in SimPy's queue and a wake-up each, and the wake-ups touch cold
memory.  Here a client's next action is two numbers, its time and an integer
code (the mechanism packs the client and the kind of action into it), kept in
a calendar queue: buckets of ``width`` seconds, each a pair of compact arrays
that are sorted once, when the calendar reaches them, plus a small heap for
what is scheduled into the bucket under way.  Scheduling is an append.

One callback runs the calendar: it handles every action due before SimPy's
next event in time order, moving the clock to each action's time
(:meth:`~simulator.engine.simulation.Environment.advance_to`), then sleeps on
one timeout until the next action.  Actions reach the handler in time order,
interleaved exactly with every other SimPy event (crashes, samples, presence
changes), so per-request times stay exact; an action costs no SimPy event
unless another event falls before it.  Ties at one instant keep scheduling order.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable

import numpy as np
import simpy


class ActionCalendar:
    """Actions ``(time, code)`` handed to ``handle(code, time)`` in time order, at that time."""

    def __init__(self, env, width: float, handle: Callable[[int, float], None]):
        self.env = env
        self.width = float(width)
        self.handle = handle
        self._buckets: dict[int, tuple[array, array]] = {}  # key -> (times, codes), unsorted
        self._keys: list[int] = []  # heap of the keys in _buckets
        self._key = -1  # the bucket under way
        self._end = 0.0  # ... and where it ends: earlier actions are in _near or _cur
        self._cur_t: list[float] = []  # the bucket under way, sorted
        self._cur_c: list[int] = []
        self._i = 0
        self._near: list[tuple[float, int, int]] = []  # (time, seq, code) scheduled into it
        self._seq = 0
        self._running = False
        self._wake_at = math.inf  # the earliest wake-up scheduled
        self.handled = 0  # actions handed over so far (each costs about one SimPy event's time)

    # -- scheduling --------------------------------------------------------------
    def schedule(self, t: float, code: int) -> None:
        """Hand ``code`` to the handler at time ``t`` (not before now)."""
        if t < self._end:
            self._seq += 1
            heapq.heappush(self._near, (t, self._seq, code))
        else:
            key = int(t / self.width)
            if key <= self._key:  # t / width rounded down across the bucket's edge
                key = self._key + 1
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = (array("d"), array("q"))
                heapq.heappush(self._keys, key)
            bucket[0].append(t)
            bucket[1].append(code)
        if not self._running and t < self._wake_at:
            self._wake(t)

    def schedule_many(self, times: np.ndarray, codes: np.ndarray) -> None:
        """:meth:`schedule` for arrays (building a population): array work, in the given order."""
        times = np.asarray(times, dtype=np.float64)
        codes = np.asarray(codes, dtype=np.int64)
        if len(times) == 0:
            return
        near = times < self._end
        for t, code in zip(times[near].tolist(), codes[near].tolist(), strict=True):
            self.schedule(t, code)
        times, codes = times[~near], codes[~near]
        keys = np.maximum((times / self.width).astype(np.int64), self._key + 1)
        order = np.argsort(keys, kind="stable")
        keys, times, codes = keys[order], times[order], codes[order]
        firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        bounds = np.r_[firsts, len(keys)].tolist()
        for j, key in enumerate(keys[firsts].tolist()):
            a, b = bounds[j], bounds[j + 1]
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = (array("d"), array("q"))
                heapq.heappush(self._keys, key)
            bucket[0].frombytes(times[a:b].tobytes())
            bucket[1].frombytes(codes[a:b].tobytes())
        if not self._running and len(times):
            first = float(times.min())
            if first < self._wake_at:
                self._wake(first)

    # -- running -------------------------------------------------------------------
    def _wake(self, t: float) -> None:
        self._wake_at = t
        env = self.env
        env.timeout(max(0.0, t - env.now)).callbacks.append(self._on_wake)

    def _on_wake(self, event: simpy.Event) -> None:
        if self.env.now >= self._wake_at:
            self._wake_at = math.inf
        self._run()

    def _load(self) -> bool:
        """Make the next bucket the one under way; False if there is none."""
        if not self._keys:
            return False
        key = heapq.heappop(self._keys)
        times_raw, codes_raw = self._buckets.pop(key)
        times = np.frombuffer(times_raw, dtype=np.float64)
        order = np.argsort(times, kind="stable")
        self._cur_t = times[order].tolist()
        self._cur_c = np.frombuffer(codes_raw, dtype=np.int64)[order].tolist()
        self._i = 0
        self._key = key
        self._end = (key + 1) * self.width
        return True

    def _run(self) -> None:
        """Handle every action due before SimPy's next event, in time order; then sleep."""
        env = self.env
        near = self._near
        handle = self.handle
        peek = env.peek
        advance_to = env.advance_to
        heappop = heapq.heappop
        self._running = True
        handled = 0
        try:
            cur_t, cur_c, i = self._cur_t, self._cur_c, self._i
            n = len(cur_t)
            while True:
                if i < n:
                    t = cur_t[i]
                    from_near = near and near[0][0] < t  # on a tie the earlier-scheduled goes first
                    if from_near:
                        t = near[0][0]
                elif near:
                    t = near[0][0]
                    from_near = True
                else:
                    self._i = i
                    if not self._load():
                        return
                    cur_t, cur_c, i = self._cur_t, self._cur_c, 0
                    n = len(cur_t)
                    continue
                now = env.now
                if t > now:
                    if t >= peek():  # another event comes first (or at the same instant)
                        if t < self._wake_at:
                            self._wake(t)
                        self._i = i
                        return
                    advance_to(t)
                if from_near:
                    code = heappop(near)[2]
                else:
                    code = cur_c[i]
                    i += 1
                handled += 1
                handle(code, t)
        finally:
            self._running = False
            self.handled += handled
