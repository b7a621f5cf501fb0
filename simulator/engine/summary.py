"""From a finished run's measurements to the flat ``metrics`` dict of docs/design.md §5."""

from __future__ import annotations

import math
from typing import Any

from simulator.engine.simulation import Simulation


class BooksDoNotBalance(RuntimeError):
    """owed != delivered + lost + pending: the model lost track of a delivery."""


def build_metrics(sim: Simulation, pending: int) -> dict[str, float]:
    """The run's metrics: flat dotted keys, numbers only (seconds, bytes, dollars)."""
    m = sim.metrics
    c = sim.config
    span = sim.t_end - sim.t_start
    hours = span / 3600.0
    nodes = c.server.nodes
    workers = c.server.workers
    lat = m.latency
    capacity = workers * nodes * span
    cpu = sum(m.busy_measured) / capacity if capacity > 0 else 0.0
    peak = max((_window_peak(m, series, workers) for series in m.w_busy), default=0.0)
    bytes_total = m.bytes_down + m.bytes_up
    payload_total = m.payload_down + m.payload_up
    egress_gb = m.bytes_down / 1e9
    node_cost = c.cost.node_hour * nodes * hours
    cost_total = node_cost + c.cost.egress_gb * egress_gb
    memory_peak = (
        c.server.memory_base * nodes + c.server.memory_per_connection * m.connections_peak
    )
    node_memory_peak = c.server.memory_base + c.server.memory_per_connection * max(
        m.node_connections_peak, default=0
    )
    out: dict[str, Any] = {
        "latency.mean": lat.mean,
        "latency.p50": lat.quantile(0.50),
        "latency.p90": lat.quantile(0.90),
        "latency.p99": lat.quantile(0.99),
        "latency.max": lat.max,
        "latency.p99_worst_window": _worst_window_p99(m),
        "deliveries.owed": m.owed,
        "deliveries.delivered": m.delivered,
        "deliveries.lost": m.lost,
        "deliveries.pending": pending,
        "deliveries.duplicates": m.duplicates,
        "requests.total": m.requests,
        "requests.per_second": m.requests / span,
        "requests.empty_fraction": m.empty_requests / m.requests if m.requests else 0.0,
        "messages.pushed": m.messages_pushed,
        "messages.heartbeats": m.heartbeats,
        "messages.upstream": m.upstream_messages,
        "connections.opened": m.connections_opened,
        "connections.refused": m.connections_refused,
        "connections.dropped": m.connections_dropped,
        "connections.peak": m.connections_peak,
        "connections.mean": m.connections_mean(),
        "connections.aged_out": m.connections_aged_out,
        "connections.half_open_peak": m.half_open_peak(),
        "reconnects.total": m.reconnects,
        "reconnects.peak_rate": _peak_rate(m, m.w_reconnects),
        "server.cpu_utilization": cpu,
        "server.cpu_utilization_peak": peak,
        "server.queue_wait_mean": m.queue_wait.mean,
        "server.queue_wait_p99": m.queue_wait.quantile(0.99),
        "server.memory_peak": memory_peak,
        "server.memory_peak_per_node": node_memory_peak,
        "server.nodes": float(nodes),
        "network.bytes_down": m.bytes_down,
        "network.bytes_up": m.bytes_up,
        "network.bytes_per_second": bytes_total / span,
        "network.overhead_fraction": 1.0 - payload_total / bytes_total if bytes_total else 0.0,
        **sim.presence.finish(),
        "webhook.attempts": m.webhook_attempts,
        "webhook.retries": m.webhook_retries,
        "webhook.gave_up": m.webhook_gave_up,
        "cost.total": cost_total,
        "cost.per_hour": cost_total / hours,
        "cost.per_month": cost_total / hours * 730,  # 730 h: the mean month
        "cost.per_million_deliveries": cost_total / m.delivered * 1e6 if m.delivered else 0.0,
    }
    return {k: _number(v) for k, v in out.items()}


def check_books(metrics: dict[str, float]) -> None:
    """Raise :class:`BooksDoNotBalance` unless owed = delivered + lost + pending."""
    owed = metrics["deliveries.owed"]
    accounted = metrics["deliveries.delivered"] + metrics["deliveries.lost"] + metrics["deliveries.pending"]
    if owed != accounted:
        raise BooksDoNotBalance(
            f"the books do not balance: owed {owed:.0f} != delivered {metrics['deliveries.delivered']:.0f}"
            f" + lost {metrics['deliveries.lost']:.0f} + pending {metrics['deliveries.pending']:.0f}"
        )


def _measured_windows(m) -> range:
    """Sample windows lying wholly inside ``[t_start, t_end]``.

    A window straddling ``t_start`` holds warm-up activity, and a last window cut
    short by ``t_end`` is not a full ``sample_every``: peaks use neither, unless the
    measured span is shorter than one window (then the windows it overlaps).
    """
    step = m.sample_every
    first = math.ceil(m.t_start / step - 1e-9)
    end = min(m.n_windows, math.floor(m.t_end / step + 1e-9))
    if first < end:
        return range(first, end)
    return range(int(m.t_start / step + 1e-9), m.n_windows)


def _window_peak(m, series: list[float], workers: int) -> float:
    """Worst busy fraction of one node over the measured sample windows."""
    return max((series[w] for w in _measured_windows(m)), default=0.0) / (m.sample_every * workers)


def _peak_rate(m, series: list[int]) -> float:
    """Highest per-second rate of a per-window count over the measured sample windows."""
    return max((series[w] for w in _measured_windows(m)), default=0) / m.sample_every


def _worst_window_p99(m) -> float:
    """Worst p99 of the latencies delivered in one measured sample window (0 if none delivered).

    From the coarse per-window histograms behind ``timeseries.csv`` (buckets 10 % wide).
    """
    p99 = m.window_latency_quantiles((0.99,))[:, 0]
    values = [p99[w] for w in _measured_windows(m) if not math.isnan(p99[w])]
    return max(values, default=0.0)


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    value = float(value)
    return value
