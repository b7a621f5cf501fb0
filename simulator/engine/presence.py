"""Which clients are online: the ``[profile]`` population and churn sessions (``clients.session``).

A client is online when it is *admitted* by the profile (the population target
``multiplier(t) * clients.count``: clients with the lowest indices are admitted,
so which ones go offline is deterministic) and *in a session*: with
``clients.session`` > 0 each client alternates exponential online sessions and
exponential offline periods (``clients.offline``), started in the stationary
state (online with probability session / (session + offline)), on its own
random stream ``clients.churn``.  Without either, everyone is online all run
and nothing here schedules an event.

Changes are announced to the listeners (the mechanisms' ``go_offline`` and
``come_online`` hooks, see :class:`simulator.engine.connections.Lifecycle`) as
arrays of client ids.  Per-client state is numpy arrays and each client's next
session change an entry in an action calendar: no process or event per client.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simulator.config import ExperimentConfig
from simulator.engine.calendar import ActionCalendar
from simulator.engine.metrics import Metrics
from simulator.engine.profile import LoadProfile
from simulator.engine.randomness import RandomStreams

Listener = Callable[[np.ndarray, float], None]

#: Session changes per calendar bucket (see :mod:`simulator.engine.calendar`).
FLIPS_PER_BUCKET = 2048


class Presence:
    """The online state of every client, its changes over time, and its time-weighted tally."""

    def __init__(
        self,
        env: simpy.Environment,
        config: ExperimentConfig,
        streams: RandomStreams,
        metrics: Metrics,
        profile: LoadProfile | None,
    ):
        self.env = env
        self.metrics = metrics
        n = config.clients.count
        self.n = n
        self.session = config.clients.session
        self.offline_mean = config.clients.offline
        self.profile = profile if profile is not None and "clients" in profile.applies_to else None
        self.churn = self.session > 0
        self.calendar: ActionCalendar | None = None
        #: Whether anyone ever goes offline: mechanisms skip every check when not.
        self.varies = self.churn or self.profile is not None
        self.in_session = np.ones(n, dtype=bool)
        self.admitted = np.ones(n, dtype=bool)
        self.online = np.ones(n, dtype=bool)
        self.offline_listeners: list[Listener] = []
        self.online_listeners: list[Listener] = []
        self.count = n
        self.peak = 0
        self.sessions = 0
        self._last_t = 0.0
        self._integral = [0.0] * metrics.n_windows  # client-seconds online per sample window
        self._in_window = 0.0  # client-seconds online inside [t_start, t_end]
        if self.churn:
            self._rng = streams.generator("clients.churn")
            share = self.session / (self.session + self.offline_mean)
            self.in_session[:] = self._rng.random(n) < share
            # memoryless: the time left in the current state is a fresh exponential draw
            means = np.where(self.in_session, self.session, self.offline_mean)
            left = self._rng.exponential(1.0, n) * means
            # each client's next flip is a calendar entry, not a SimPy event
            width = (self.session + self.offline_mean) / 2 * FLIPS_PER_BUCKET / max(n, 1)
            self.calendar = ActionCalendar(env, width, self._flip)
            self.calendar.schedule_many(left, np.arange(n, dtype=np.int64))
        self._target = n
        if self.profile is not None:
            self._target_at(0.0)
            env.process(self._follow_profile(config.experiment.sample_every, metrics.t_end))
        self.online = self.in_session & self.admitted
        self.count = int(self.online.sum())
        self.peak = self.count  # the level at the window's start, unless a change comes first

    # -- changes ----------------------------------------------------------------------
    def _set(self, ids: np.ndarray, now: float) -> None:
        """Recompute ``online`` for ``ids`` at ``now`` and tell the listeners who changed."""
        new = self.in_session[ids] & self.admitted[ids]
        old = self.online[ids]
        gone, back = ids[old & ~new], ids[new & ~old]
        if len(gone) == 0 and len(back) == 0:
            return
        self._tally(now)
        self.online[gone] = False
        self.online[back] = True
        self.count += len(back) - len(gone)
        m = self.metrics
        if m.in_window(now):
            self.sessions += len(back)
            self.peak = max(self.peak, self.count)
        elif now < m.t_start:
            self.peak = self.count  # the level at the window's start, if no higher one follows
        if len(gone):
            for listener in self.offline_listeners:
                listener(gone, now)
        if len(back):
            for listener in self.online_listeners:
                listener(back, now)

    def _flip(self, c: int, now: float) -> None:
        """Client ``c``'s session or offline period ended at ``now``: switch and draw the next."""
        on = not self.in_session[c]
        self.in_session[c] = on
        mean = self.session if on else self.offline_mean
        self.calendar.schedule(now + self._rng.exponential(mean), c)
        if self.admitted[c]:  # else nothing changes: a client the profile keeps out stays offline
            self._set(np.array([c]), now)

    def _target_at(self, t: float) -> np.ndarray:
        """Admit the ``round(multiplier(t) * N)`` lowest-indexed clients; those whose admission changed."""
        target = int(round(self.profile.multiplier(t) * self.n))
        before = self._target
        self._target = target
        self.admitted[:target] = True
        self.admitted[target:] = False
        return np.arange(min(before, target), max(before, target))

    def _follow_profile(self, step: float, t_end: float):
        """Re-aim the population at the profile every sample window (and at each step's time)."""
        env = self.env
        breaks = [b for b in self.profile.breaks if b > 0.0] if self.profile.kind == "steps" else []
        while env.now < t_end:
            t_next = min(env.now + step, t_end)
            while breaks and breaks[0] <= env.now:
                breaks.pop(0)
            if breaks and breaks[0] < t_next:
                t_next = breaks[0]
            yield env.timeout(t_next - env.now)
            changed = self._target_at(env.now)
            if len(changed):
                self._set(changed, env.now)

    # -- the tally ----------------------------------------------------------------------
    def _tally(self, now: float) -> None:
        """Add the online client-seconds since the last change to the sample windows."""
        m = self.metrics
        t0, t1 = self._last_t, min(now, m.t_end)
        self._last_t = max(self._last_t, t1)
        if t1 <= t0 or self.count == 0:
            return
        self._in_window += self.count * max(0.0, t1 - max(t0, m.t_start))
        step = m.sample_every
        w = int(t0 / step)
        while t0 < t1 and w < m.n_windows:
            edge = min((w + 1) * step, t1)
            self._integral[w] += self.count * (edge - t0)
            t0 = edge
            w += 1

    def finish(self) -> dict[str, float]:
        """The ``clients.*`` metrics: online mean (time-weighted over the window), peak, sessions."""
        m = self.metrics
        self._tally(m.t_end)
        span = m.t_end - m.t_start
        return {
            "clients.online_mean": self._in_window / span if span > 0 else float(self.count),
            "clients.online_peak": self.peak,
            "clients.sessions": self.sessions,
        }

    def series(self) -> np.ndarray:
        """Mean online clients per sample window (``timeseries.csv``'s ``clients_online``)."""
        m = self.metrics
        self._tally(m.t_end)
        step = m.sample_every
        widths = np.minimum(step, m.t_end - np.arange(m.n_windows) * step)
        return np.asarray(self._integral) / np.where(widths > 0, widths, 1.0)
