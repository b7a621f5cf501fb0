"""From a finished run's measurements to the flat ``metrics`` dict of docs/design.md §5."""

from __future__ import annotations

import math
from typing import Any

from simulator.config.services import BILLED_RULES_PER_REQUEST, SERVICES
from simulator.engine.billing import (
    HOURS_PER_MONTH,
    Usage,
    balancer_cost,
    balancer_lcus,
    service_bill,
)
from simulator.engine.metrics import node_cpu
from simulator.engine.radio import radio_metrics
from simulator.engine.simulation import Simulation


class BooksDoNotBalance(RuntimeError):
    """owed != delivered + lost + pending: the model lost track of a delivery."""


def build_metrics(sim: Simulation, pending: int) -> dict[str, float]:
    """The run's metrics: flat dotted keys, numbers only (seconds, bytes, dollars)."""
    m = sim.metrics
    c = sim.config
    span = sim.t_end - sim.t_start
    hours = span / 3600.0
    cluster = sim.cluster
    workers = c.server.workers
    lat = m.latency
    if cluster.dynamic:
        nodes = cluster.node_seconds(sim.t_start, sim.t_end) / span  # mean billed nodes
        capacity = workers * cluster.node_seconds(sim.t_start, sim.t_end, working=True)
        nodes_peak = cluster.nodes_peak(sim.t_start, sim.t_end)
    else:
        nodes = c.server.nodes
        capacity = workers * nodes * span
        nodes_peak = nodes
    idle = c.server.idle_cpu
    cpu = sum(m.busy_measured) / capacity if capacity > 0 else 0.0
    peak = max((_window_peak(m, series, workers) for series in m.w_busy), default=0.0)
    work_seconds = sum(m.busy_measured)  # worker-seconds, stretched by idle_cpu
    if idle and capacity > 0:
        # idle CPU while a node is up (not while crashed), plus the work's share
        node_seconds = capacity / workers
        cpu = node_cpu(cpu, idle, max(0.0, 1.0 - cluster.crash_seconds(sim.t_start, sim.t_end) / node_seconds))
        peak = node_cpu(peak, idle)
        work_seconds *= 1.0 - idle  # CPU the work itself took, what a managed service bills
    bytes_total = m.bytes_down + m.bytes_up
    payload_total = m.payload_down + m.payload_up
    egress_gb = m.bytes_down / 1e9
    balancer_month, service_month = 0.0, 0.0
    service = SERVICES.get(c.deployment.kind)
    if service is None:  # our own fleet: node-hours, egress and (when priced) the balancer
        node_cost = c.cost.node_hour * nodes * hours
        egress_cost = c.cost.egress_gb * egress_gb
        if c.cost.balancer_hour or c.cost.lcu_hour:
            lcus = balancer_lcus(m.connections_opened / span, m.connections_mean(),
                                 bytes_total_gb(m) / hours, m.requests / span * BILLED_RULES_PER_REQUEST)
            balancer_month = balancer_cost(HOURS_PER_MONTH, c.cost.balancer_hour, c.cost.lcu_hour, lcus)
    else:  # a managed service: its bill replaces node-hours (its edge is what [server] models)
        node_cost = 0.0
        egress_cost = c.cost.egress_gb * egress_gb if service.bills_egress else 0.0
        service_month = service_bill(c.deployment.kind, Usage(
            connection_minutes=m.connections_mean() * HOURS_PER_MONTH * 60.0,
            peak_connections=m.connections_peak,
            connects=m.connections_opened * HOURS_PER_MONTH * 3600.0 / span,
            messages_out=m.messages_pushed * HOURS_PER_MONTH * 3600.0 / span,
            heartbeats=m.heartbeats * HOURS_PER_MONTH * 3600.0 / span,
            messages_in=m.upstream_messages * HOURS_PER_MONTH * 3600.0 / span,
            published=m.published * HOURS_PER_MONTH * 3600.0 / span,
            payload_bytes=c.workload.payload,
            active_seconds=work_seconds * HOURS_PER_MONTH * 3600.0 / span,
        ))
    cost_total = node_cost + egress_cost
    if balancer_month or service_month:  # (old configs: the same sum, to the last bit)
        cost_total += (balancer_month + service_month) * hours / HOURS_PER_MONTH
    memory_per_connection = cluster.memory_per_connection  # zlib state included (permessage-deflate)
    memory_peak = c.server.memory_base * nodes_peak + memory_per_connection * m.connections_peak
    node_memory_peak = c.server.memory_base + memory_per_connection * max(
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
        "notifications.published": m.published,
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
        "clients.stalled": sim.streams_per_client.stalled * c.clients.count,
        "reconnects.total": m.reconnects,
        "reconnects.peak_rate": _peak_rate(m, m.w_reconnects),
        "server.cpu_utilization": cpu,
        "server.cpu_utilization_peak": peak,
        "server.queue_wait_mean": m.queue_wait.mean,
        "server.queue_wait_p99": m.queue_wait.quantile(0.99),
        "server.memory_peak": memory_peak,
        "server.memory_peak_per_node": node_memory_peak,
        "backplane.cpu_utilization": cluster.backplane.cpu_utilization(),
        "server.nodes": float(nodes),
        "server.nodes_peak": nodes_peak,
        "server.node_hours": nodes * hours,
        "autoscale.scale_outs": cluster.scale_outs,
        "autoscale.scale_ins": cluster.scale_ins,
        "connections.drained": m.connections_drained,
        "recovery.seconds": recovery_seconds(sim),
        "network.bytes_down": m.bytes_down,
        "network.bytes_up": m.bytes_up,
        "network.bytes_per_second": bytes_total / span,
        "network.overhead_fraction": 1.0 - payload_total / bytes_total if bytes_total else 0.0,
        **sim.presence.finish(),
        **radio_metrics(sim.radio),
        "webhook.attempts": m.webhook_attempts,
        "webhook.retries": m.webhook_retries,
        "webhook.gave_up": m.webhook_gave_up,
        "push_service.sent": m.push_service_sent,
        "push_service.rejected": m.push_service_rejected,
        "push_service.collapsed": m.push_service_collapsed,
        "push_service.expired": m.push_service_expired,
        "quota.throttled": m.quota_throttled,
        "cost.total": cost_total,
        "cost.per_hour": cost_total / hours,
        "cost.per_month": cost_total / hours * 730,  # 730 h: the mean month
        "cost.balancer": balancer_month,
        "cost.service": service_month,
        "cost.per_million_deliveries": cost_total / m.delivered * 1e6 if m.delivered else 0.0,
    }
    return {k: _number(v) for k, v in out.items()}


#: How close to its level before an event a series must come back (relative).
RECOVERY_TOLERANCE = 0.05
#: The level before an event is the mean over this long before it (seconds).
RECOVERY_BASELINE = 60.0


def bytes_total_gb(m) -> float:
    """GB through the balancer in the window, both directions (its processed-bytes dimension)."""
    return (m.bytes_down + m.bytes_up) / 1e9


def recovery_seconds(sim: Simulation) -> float:
    """The longest recovery after a failure or operation inside the window; 0 if none.

    For each event at ``t``, the baseline is the level over :data:`RECOVERY_BASELINE`
    (measured windows only) before it: the mean of the open connections sampled at each
    window's end, and the deliveries per that many windows.  Recovery ends at the end of
    the last window, before the next event (or the window's end), where the connections
    are off the baseline by more than 5 %, or the deliveries over the baseline's length
    from that window on are off by more than 5 % (or, when wider, four standard errors of the
    difference of two Poisson counts: noise is not a disturbance); 0 if nothing moved that far.
    """
    m = sim.metrics
    times = [f.at for f in sim.config.failures if f.kind == "node_crash"]
    times += [t for t, kind in sim.cluster.events if kind in ("rolling_deploy", "scale_to")]
    times = sorted(t for t in times if sim.metrics.in_window(t))
    step = m.sample_every
    measured = _measured_windows(m)
    conns = m.w_connections
    rates = m.w_deliveries
    longest = 0.0
    for i, t in enumerate(times):
        e = int(t / step)  # the window holding the event
        first = max(measured.start, e - max(1, round(RECOVERY_BASELINE / step)))
        k = e - first  # baseline windows: measured ones only (not the warm-up's ramp)
        if k < 1:
            continue
        horizon = measured.stop if i + 1 == len(times) else min(measured.stop, int(times[i + 1] / step))
        base_c = sum(conns[first:e]) / k
        base_count = sum(rates[first:e])  # deliveries per k windows
        tol_c = RECOVERY_TOLERANCE * base_c
        # two Poisson counts of about base_count differ by sqrt(2 base_count) (one s.e.); four
        # of them keep noise alone from counting as a disturbance over many windows
        tol_r = max(RECOVERY_TOLERANCE * base_count, 4 * math.sqrt(2 * base_count))
        last_off = None
        for w in range(e, horizon):
            rate_off = w + k <= horizon and abs(sum(rates[w : w + k]) - base_count) > tol_r
            if abs(conns[w] - base_c) > tol_c or rate_off:
                last_off = w
        if last_off is not None:
            longest = max(longest, (last_off + 1) * step - t)
    return longest


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
