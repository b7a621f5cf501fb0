"""The one metric catalogue: every metric's label, unit, display and direction.

The engine emits a flat dict of dotted names (``summary.json``); everything that
shows a metric to a person (the run table, sweep and plan tables, plots,
reports) and everything that reasons about one (SLO parsing, "is this a
fraction?") reads this module, so a metric is described in exactly one place.
``tests/test_catalogue.py`` checks that it covers every metric a run emits.

Units are base units: ``s`` seconds, ``B`` bytes, ``B/s``, ``fraction`` (of 1,
shown as percent), ``$`` dollars, ``/s`` a rate, ``J`` joules and ``""`` a count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str = ""
    #: True: smaller is better (latency, cost); False: larger is better; None: neither.
    lower_is_better: bool | None = True
    #: Shown in ``sim run``'s summary table.
    in_run_table: bool = False
    #: Drawn after every sweep and shown in the key-metric tables.
    key: bool = False
    #: A sign of trouble (loss, refusals, a reconnect storm): the key-metric tables
    #: add it whenever it is not 0 somewhere, and leave it out when it is 0 everywhere.
    show_when_nonzero: bool = False
    #: Measures a feature that may be off (a radio, tabs, a redis backplane, a service):
    #: ``sim run``'s table leaves it out while it is 0.
    optional: bool = False

    @property
    def is_fraction(self) -> bool:
        return self.unit == "fraction"

    @property
    def is_count(self) -> bool:
        """A whole-number tally: plotted from zero, never negative."""
        return self.unit == ""


def _m(name: str, label: str, unit: str = "", lower: bool | None = True, run: bool = False, key: bool = False,
       trouble: bool = False, optional: bool = False) -> Metric:
    return Metric(name, label, unit, lower, run, key, trouble, optional)


_ALL: tuple[Metric, ...] = (
    _m("latency.mean", "latency mean", "s", run=True, key=True),
    _m("latency.p50", "latency p50", "s", run=True),
    _m("latency.p90", "latency p90", "s"),
    _m("latency.p99", "latency p99", "s", run=True, key=True),
    _m("latency.max", "latency max", "s", run=True),
    _m("latency.p99_worst_window", "latency p99, worst window", "s", run=True),
    _m("deliveries.owed", "deliveries owed", "", None, run=True),
    _m("notifications.published", "notifications published", "", None),
    _m("deliveries.delivered", "delivered", "", False, run=True),
    _m("deliveries.lost", "deliveries lost", "", run=True, trouble=True),
    _m("deliveries.pending", "deliveries pending at end", "", run=True, trouble=True),
    _m("deliveries.duplicates", "duplicate deliveries", "", run=True, trouble=True),
    _m("requests.total", "HTTP requests", "", run=True),
    _m("requests.per_second", "HTTP request rate", "/s", run=True, key=True),
    _m("requests.empty_fraction", "empty responses", "fraction", run=True),
    _m("messages.pushed", "messages pushed", "", None, run=True),
    _m("messages.heartbeats", "heartbeats", "", run=True),
    _m("messages.upstream", "upstream messages", "", None),
    _m("connections.opened", "connections opened", ""),
    _m("clients.online_mean", "online clients mean", "", None),
    _m("clients.online_peak", "online clients peak", "", None),
    _m("clients.sessions", "client sessions started", "", None),
    _m("clients.energy_joules_per_hour", "radio energy per client-hour", "J", run=True, optional=True),
    _m("clients.radio_active_fraction", "radio active (not idle)", "fraction", run=True, optional=True),
    _m("connections.refused", "connections refused", "", run=True, trouble=True),
    _m("connections.dropped", "connections dropped", "", run=True),
    _m("connections.peak", "open connections peak", "", run=True, key=True),
    _m("connections.mean", "open connections mean", "", run=True),
    _m("connections.aged_out", "connections closed for age", "", trouble=True),
    _m("connections.half_open_peak", "half-open connections peak", "", trouble=True),
    _m("clients.stalled", "tab streams stalled", "", run=True, trouble=True, optional=True),
    _m("reconnects.total", "reconnects", "", run=True),
    _m("reconnects.peak_rate", "reconnect rate, peak", "/s", run=True, trouble=True),
    _m("server.cpu_utilization", "CPU utilisation", "fraction", run=True, key=True),
    _m("server.cpu_utilization_peak", "CPU peak (node-window)", "fraction", run=True),
    _m("backplane.cpu_utilization", "backplane CPU (redis)", "fraction", run=True, optional=True),
    _m("server.queue_wait_mean", "queue wait mean", "s", run=True),
    _m("server.queue_wait_p99", "queue wait p99", "s", run=True),
    _m("server.memory_peak", "server memory peak", "B", run=True, key=True),
    _m("server.memory_peak_per_node", "memory peak per node", "B"),
    _m("server.nodes", "server nodes (mean)", ""),
    _m("server.nodes_peak", "server nodes peak", ""),
    _m("server.node_hours", "node-hours (measured window)", "", run=True),
    _m("autoscale.scale_outs", "autoscale scale-outs", ""),
    _m("autoscale.scale_ins", "autoscale scale-ins", ""),
    _m("connections.drained", "connections drained (node leaving)", ""),
    _m("recovery.seconds", "longest recovery after a failure or operation", "s", run=True, optional=True),
    _m("network.bytes_down", "bytes down", "B"),
    _m("network.bytes_up", "bytes up", "B"),
    _m("network.bytes_per_second", "bandwidth", "B/s", run=True, key=True),
    _m("network.overhead_fraction", "overhead (non-payload bytes)", "fraction", run=True),
    _m("webhook.attempts", "webhook attempts", "", run=True),
    _m("webhook.retries", "webhook retries", "", run=True),
    _m("webhook.gave_up", "webhook gave up", ""),
    _m("push_service.sent", "messages sent to the push service", "", None),
    _m("push_service.rejected", "push messages refused over quota", "", trouble=True),
    _m("push_service.collapsed", "push messages collapsed (superseded)", ""),
    _m("push_service.expired", "push messages expired (TTL)", "", trouble=True),
    _m("cost.total", "cost of the measured window", "$", run=True, key=True),
    _m("cost.per_hour", "cost per hour", "$", run=True),
    _m("cost.per_month", "cost per month (730 h)", "$", run=True, key=True),
    _m("cost.per_million_deliveries", "cost per million deliveries", "$", run=True),
    _m("cost.balancer", "load balancer per month (730 h)", "$", run=True, optional=True),
    _m("cost.service", "managed service bill per month (730 h)", "$", run=True, optional=True),
    _m("quota.throttled", "connection attempts a service quota delayed", "", trouble=True, run=True, optional=True),
)

CATALOGUE: dict[str, Metric] = {m.name: m for m in _ALL}
"""Every metric by name, in the order tables show them."""

KEY_METRICS: list[str] = [m.name for m in _ALL if m.key]
"""Drawn after every sweep and shown first in reports."""


def table_metrics(rows: Iterable[Mapping[str, float]]) -> list[str]:
    """The columns of a key-metric table over ``rows`` (a run's metrics, or sweep rows):
    the key metrics, plus each :attr:`Metric.show_when_nonzero` metric that is not 0
    (nor missing) in some row; in catalogue order."""
    rows = list(rows)

    def nonzero(name: str) -> bool:
        return any(isinstance(v := row.get(name), int | float) and v == v and v != 0 for row in rows)

    return [m.name for m in _ALL
            if (m.key and any(m.name in row for row in rows)) or (m.show_when_nonzero and nonzero(m.name))]


def describe(name: str) -> Metric:
    """The catalogue entry; a metric it does not know is shown by its name, as a count."""
    return CATALOGUE.get(name) or Metric(name, name, "", None)


def unit_of(name: str) -> str:
    return describe(name).unit


def label_of(name: str) -> str:
    return describe(name).label


def display_scale(unit: str, largest: float) -> tuple[float, str]:
    """``(factor, unit label)`` so that values * factor read well (ms, MiB, %, ...)."""
    if unit == "s":
        if 0 < largest < 1e-3:
            return 1e6, "µs"
        return (1e3, "ms") if largest < 1 else (1.0, "s")
    if unit in ("B", "B/s"):
        suffix = "/s" if unit == "B/s" else ""
        for name, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if largest >= factor:
                return 1 / factor, name + suffix
        return 1.0, "B" + suffix
    if unit == "fraction":
        return 100.0, "%"
    return 1.0, unit


def _digits(x: float) -> int:
    x = abs(x)
    if x == 0 or x >= 100:
        return 0 if float(x).is_integer() or x >= 1000 else 1
    return 2 if x >= 1 else 3


def format_value(value: float | None, unit: str, ci: float | None = None) -> str:
    """``12.3 ms ± 0.4``: a value in its display unit; the half-width shares that unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == 0 and unit == "s" and not ci:
        return "0 s"
    scale, label = display_scale(unit, abs(value))
    if unit == "$":  # cents once there are dollars; a short window's cost needs more
        digits = 2 if abs(value) >= 1 else 4
        text, ci_text = f"${value:,.{digits}f}", f"{ci:,.{digits}f}" if ci is not None else ""
    else:
        digits = _digits(value * scale)
        suffix = "" if not label else (label if label == "%" else f" {label}")
        text = f"{value * scale:,.{digits}f}{suffix}"
        ci_text = f"{ci * scale:,.{digits}f}" if ci is not None else ""
    if ci is not None and not math.isnan(ci):
        return f"{text} ± {ci_text}"
    return text


def format_metric(name: str, value: float | None, ci: float | None = None) -> str:
    return format_value(value, unit_of(name), ci)
