"""Arithmetic accounting of what idle persistent connections do: heartbeats, upstream.

Nothing in the model depends on an individual heartbeat (a ping, a pong, an SSE
comment) or on an individual upstream client message, so they cost no SimPy
event.  When a connection ends (drop, idle cut, end of run) its whole lifetime
``[a, b]`` is settled at once, for arrays of connections:

- heartbeats fire on a fixed timer from the moment the connection went live,
  at ``a + k * heartbeat`` for ``k = 1, 2, ...`` while before ``b`` (a server
  ``setInterval``); those inside the measured window are counted, with their
  bytes;
- upstream messages are a Poisson process of ``upstream_rate`` per connection:
  the count inside the window and outside it are drawn from Poisson laws;
- both cost the node ``message_cost`` of CPU per message handled; that busy
  time is spread evenly over the connection's lifetime into the per-window
  busy series (and their bytes into the per-window byte series), in bulk at the
  end of the run; in a window the workers already fill, the excess moves on
  to the next window (:meth:`Metrics.add_busy_windows`), so no window is
  busier than its capacity.  They do not queue in front of pushed messages: at the rates
  they run at (one per 15-30 s per connection) their effect on push queueing
  is second order, and modelling it would cost an event per heartbeat.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.metrics import Metrics


def spread(
    out: np.ndarray,
    block: int,
    offset: np.ndarray | int,
    a: np.ndarray,
    b: np.ndarray,
    amount: np.ndarray,
    step: float,
) -> None:
    """Add ``amount[i]`` spread uniformly over ``[a[i], b[i]]`` into windows of ``step`` seconds.

    ``out`` is a flat array of blocks of ``block`` windows each; ``offset[i]``
    is the start of the block interval ``i`` belongs to (``node * block``).
    Times at or beyond the last window of a block fall into it, as in
    :class:`Metrics`.  An interval of zero length puts its amount in one window.
    """
    if len(a) == 0:
        return
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    amount = np.asarray(amount, dtype=np.float64)
    last = block - 1
    wa = np.minimum((a / step).astype(np.int64), last)
    wb = np.minimum((b / step).astype(np.int64), last)
    length = b - a
    rate = np.divide(amount, length, out=np.zeros_like(amount), where=length > 0)
    same = wa == wb
    first = np.where(same, amount, rate * ((wa + 1) * step - a))
    tail = np.where(same, 0.0, rate * (b - wb * step))
    full = np.where(same, 0.0, rate * step)
    off = np.broadcast_to(np.asarray(offset, dtype=np.int64), wa.shape)
    size = len(out) + 1
    acc = np.bincount(off + wa, first, minlength=size) + np.bincount(off + wb, tail, minlength=size)
    # full windows wa+1 .. wb-1 through a difference array (each +/- pair stays inside its block)
    diff = np.bincount(off + wa + 1, full, minlength=size) - np.bincount(off + wb, full, minlength=size)
    acc += np.cumsum(diff)
    out += acc[: len(out)]


class BulkAccounts:
    """Per-run accumulators for heartbeat and upstream traffic settled in bulk."""

    def __init__(
        self,
        metrics: Metrics,
        nodes: int,
        heartbeat: float,
        heartbeat_down: float,
        heartbeat_up: float,
        heartbeat_messages: int,
        upstream_rate: float,
        upstream_bytes: float,
        upstream_payload: float,
        message_cost: float,
        rng: np.random.Generator,
        workers: int,
    ):
        self.m = metrics
        self.nodes = nodes
        self.heartbeat = heartbeat
        self.hb_down = heartbeat_down
        self.hb_up = heartbeat_up
        self.hb_messages = heartbeat_messages
        self.up_rate = upstream_rate
        self.up_bytes = upstream_bytes
        self.up_payload = upstream_payload
        self.message_cost = message_cost
        self.rng = rng
        self.workers = workers  # per node: bounds the busy time a window can hold
        n = metrics.n_windows
        self.n = n
        self.busy = np.zeros(nodes * n)  # extra busy seconds per (node, window)
        self.bytes = np.zeros(n)  # extra bytes per window
        self.active = heartbeat > 0 or upstream_rate > 0

    def settle(self, nodes: np.ndarray, a: np.ndarray, b: np.ndarray | float) -> None:
        """Connections on ``nodes`` live over ``[a, b]`` (seconds) have ended: account them."""
        if not self.active or len(a) == 0:
            return
        m = self.m
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
        busy_msgs = np.zeros(len(a))
        wire = np.zeros(len(a))
        if self.heartbeat > 0:
            hb = self.heartbeat
            total = np.floor((b - a) / hb)
            k_lo = np.maximum(1.0, np.ceil((m.t_start - a) / hb))
            k_hi = np.minimum(total, np.floor((np.minimum(b, m.t_end) - a) / hb))
            inside = int(np.clip(k_hi - k_lo + 1, 0, None).sum())
            m.heartbeats += inside
            m.bytes_down += inside * self.hb_down
            m.bytes_up += inside * self.hb_up
            busy_msgs += total * self.hb_messages
            wire += total * (self.hb_down + self.hb_up)
        if self.up_rate > 0:
            overlap = np.clip(np.minimum(b, m.t_end) - np.maximum(a, m.t_start), 0.0, None)
            outside = np.clip(b - a - overlap, 0.0, None)
            n_in = self.rng.poisson(self.up_rate * overlap)
            n_out = self.rng.poisson(self.up_rate * outside)
            count_in = int(n_in.sum())
            m.upstream_messages += count_in
            m.bytes_up += count_in * self.up_bytes
            m.payload_up += count_in * self.up_payload
            busy_msgs += n_in + n_out
            wire += (n_in + n_out) * self.up_bytes
        # Only the part of [a, b] inside the run's window reaches the time series (a
        # connection may end in the drain after the window, or even start there).
        cut = np.maximum(np.minimum(b, m.t_end), a)
        length = b - a
        keep = np.divide(cut - a, length, out=np.ones_like(length), where=length > 0)
        keep = np.where(a > m.t_end, 0.0, keep)
        step = m.sample_every
        busy = busy_msgs * self.message_cost * keep
        # the part of the busy time inside [t_start, t_end], spread evenly like the series
        inside = np.clip(cut - np.maximum(a, m.t_start), 0.0, None)
        share = np.divide(inside, cut - a, out=(a >= m.t_start).astype(np.float64), where=cut > a)
        measured = np.bincount(nodes.astype(np.int64), busy * share, minlength=self.nodes)
        for node in np.nonzero(measured)[0].tolist():
            m.busy_measured[node] += float(measured[node])
        spread(self.busy, self.n, nodes.astype(np.int64) * self.n, a, cut, busy, step)
        spread(self.bytes, self.n, 0, a, cut, wire * keep, step)

    def flush(self) -> None:
        """Add the accumulated busy time and bytes into the metrics' window series."""
        n = self.n
        for node in range(self.nodes):
            extra = self.busy[node * n : (node + 1) * n]
            if extra.any():
                self.m.add_busy_windows(node, extra, self.workers)
        series = self.m.w_bytes
        for w in np.nonzero(self.bytes)[0].tolist():
            series[w] += float(self.bytes[w])
        self.busy[:] = 0.0
        self.bytes[:] = 0.0
