"""The client radio's power state machine, computed from each client's activity times.

With ``[clients.radio] kind`` other than ``none`` the mechanisms report, per
client, the times at which bytes are sent or received (polls and their
responses, pushed frames, heartbeats, connection set-ups).  Nothing else
happens during the run: no SimPy event, no state per client.  At the end the
energy follows from the sorted times by array work (docs/mobile.md):

- an activity that comes more than ``tail`` after the client's previous one
  finds the radio idle and pays a promotion (``promotion`` seconds at
  ``promotion_power``), counted as extra time before the activity;
- after each activity the radio stays active for ``min(gap to the next, tail)``
  at ``tail_power``: every byte restarts the tail timer;
- then it is idle (the idle draw is the baseline, not counted).

So the energy of client ``c`` is ``n_promotions * promotion * promotion_power +
sum(min(gap, tail)) * tail_power``, clipped to the measured window.  The
promotion does not delay the delivery in the latency figures.
"""

from __future__ import annotations

import math

import numpy as np


class RadioRecorder:
    """Activity times per client (seconds) and, at the end, the radio's energy and active time."""

    def __init__(self, clients: int, params: dict[str, float], t_start: float, t_end: float):
        self.clients = clients
        self.promotion = params["promotion"]
        self.promotion_power = params["promotion_power"]
        self.tail = params["tail"]
        self.tail_power = params["tail_power"]
        self.t_start = t_start
        self.t_end = t_end
        self._ids: list[int] = []
        self._times: list[float] = []
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []

    # -- recording (cheap: an append, or one array per burst) ----------------------
    def activity(self, client: int, t: float) -> None:
        """Client ``client`` sent or received bytes at ``t``."""
        self._ids.append(client)
        self._times.append(t)

    def exchange(self, client: int, t_sent: float, t_received: float) -> None:
        """A request sent at ``t_sent`` and its response received at ``t_received``."""
        self._ids += (client, client)
        self._times += (t_sent, t_received)

    def activity_many(self, ids: np.ndarray, times: np.ndarray | float) -> None:
        """The clients ``ids`` had activity at ``times`` (one time each, or one for all)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids):
            times = np.broadcast_to(np.asarray(times, dtype=np.float64), ids.shape)
            self._chunks.append((ids.copy(), times.copy()))

    def periodic(self, ids: np.ndarray, a: np.ndarray, b: np.ndarray | float, period: float) -> None:
        """Heartbeats at ``a + k * period`` (k = 1, 2, ...) up to ``b``, for each of ``ids``."""
        if period <= 0 or len(ids) == 0:
            return
        a = np.asarray(a, dtype=np.float64)
        b = np.minimum(np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape), self.t_end)
        counts = np.floor(np.maximum(b - a, 0.0) / period).astype(np.int64)
        total = int(counts.sum())
        if total == 0:
            return
        owner = np.repeat(np.arange(len(a)), counts)
        k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        self._chunks.append((np.asarray(ids, dtype=np.int64)[owner], a[owner] + k * period))

    # -- the result ------------------------------------------------------------------
    def finish(self) -> dict[str, float]:
        """``clients.energy_joules_per_hour`` (mean per client) and ``clients.radio_active_fraction``."""
        span = self.t_end - self.t_start
        ids = [np.asarray(self._ids, dtype=np.int64)] + [c[0] for c in self._chunks]
        times = [np.asarray(self._times, dtype=np.float64)] + [c[1] for c in self._chunks]
        c = np.concatenate(ids)
        t = np.concatenate(times)
        keep = t <= self.t_end
        c, t = c[keep], t[keep]
        if len(t) == 0 or span <= 0:
            return {"clients.energy_joules_per_hour": 0.0, "clients.radio_active_fraction": 0.0}
        order = np.lexsort((t, c))
        c, t = c[order], t[order]
        same = c[1:] == c[:-1]
        gaps = np.where(same, np.diff(t), math.inf)
        after = np.append(gaps, math.inf)  # to the client's next activity
        before = np.insert(gaps, 0, math.inf)  # from its previous one
        promoted = before > self.tail
        on_until = t + np.minimum(after, self.tail)
        on = np.clip(np.minimum(on_until, self.t_end) - np.maximum(t, self.t_start), 0.0, None)
        inside = (t >= self.t_start) & (t <= self.t_end)
        promotions = int((promoted & inside).sum())
        on_seconds = float(on.sum())
        energy = on_seconds * self.tail_power + promotions * self.promotion * self.promotion_power
        active = on_seconds + promotions * self.promotion
        return {
            "clients.energy_joules_per_hour": energy / self.clients / (span / 3600.0),
            "clients.radio_active_fraction": min(1.0, active / (self.clients * span)),
        }


def radio_metrics(recorder: RadioRecorder | None) -> dict[str, float]:
    """The radio's metrics; zero when the radio is not modelled (``kind = "none"``)."""
    if recorder is None:
        return {"clients.energy_joules_per_hour": 0.0, "clients.radio_active_fraction": 0.0}
    return recorder.finish()
