"""The metric catalogue: one entry per metric a run emits (docs/design.md §5).

An entry says what a metric is (label, base unit, which way is better, where
tables show it) and how it is derived: a :class:`Derivation`, a function of
named values.  A name a derivation reads is one of:

* a value given to the run's :class:`Values` (``pending``), or the testbed's counter;
* a shared intermediate of :data:`QUANTITIES` (the span, the fleet, the CPU, the bill);
* a metric listed earlier in :data:`ENTRIES` (``cost.per_hour`` reads ``cost.total``);
* ``sim``: the :class:`~simulator.engine.simulation.Simulation` itself, for a metric
  another recorder keeps (presence, the radio, the cluster);
* otherwise an attribute of the run's :class:`~simulator.engine.metrics.Metrics`
  (a hot-path counter, or a method the derivation calls).

``engine/summary.py`` evaluates every entry in order (that is ``summary.json``'s key
order); ``engine/early_stop.py`` evaluates an entry with a :attr:`Metric.lower_bound_when`
on the run so far; the testbed evaluates the entries its own counters supply;
``output/catalogue.py`` shows them.  ``tests/test_catalogue.py`` checks that a run
emits exactly these metrics and that every counter an entry reads is recorded.

Units are base units: ``s`` seconds, ``B`` bytes, ``B/s``, ``fraction`` (of 1,
shown as percent), ``$`` dollars, ``/s`` a rate, ``J`` joules and ``""`` a count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from simulator.config.services import BILLED_RULES_PER_REQUEST, SERVICES
from simulator.engine.billing import (
    HOURS_PER_MONTH,
    Usage,
    balancer_cost,
    balancer_lcus,
    service_bill,
)
from simulator.engine.cluster import memory_held
from simulator.engine.metrics import node_cpu
from simulator.engine.radio import radio_metrics

if TYPE_CHECKING:  # the simulation imports the cluster and the recorders this module reads
    from simulator.engine.simulation import Simulation


# ---------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class Derivation:
    """``fn(*values of reads)``: how a metric (or a quantity) comes from named values."""

    reads: tuple[str, ...]
    fn: Callable[..., Any]

    def __call__(self, values: Mapping[str, Any]) -> Any:
        """The value, from ``values`` (a :class:`Values` or a plain mapping holding every read)."""
        return self.fn(*(values[name] for name in self.reads))


def formula(*reads: str) -> Callable[[Callable[..., Any]], Derivation]:
    """``formula("a", "b")(fn)``: a :class:`Derivation` of ``fn(a, b)``."""
    return lambda fn: Derivation(tuple(reads), fn)


def counter(name: str) -> Derivation:
    """The value of one counter as it is."""
    return Derivation((name,), lambda value: value)


def per_second(name: str) -> Derivation:
    """A count over the measured window's length."""
    return Derivation((name, "span"), lambda value, span: value / span)


def share(part: str, whole: str) -> Derivation:
    """``part / whole``, 0 when ``whole`` is 0."""
    return Derivation((part, whole), lambda p, w: p / w if w else 0.0)


def _always(sim: Simulation) -> bool:
    return True


def _static(sim: Simulation) -> bool:
    return not sim.cluster.dynamic


#: Significant digits a later issue will round CSV/JSON values to, by unit (None: kept
#: exact, as a whole count must be).  Nothing rounds with it yet.
DEFAULT_PRECISION: dict[str, int | None] = {
    "s": 4, "B": 4, "B/s": 4, "fraction": 4, "/s": 4, "J": 4, "$": 6, "": None,
}
#: ``Metric.precision``'s default: the unit's :data:`DEFAULT_PRECISION`.
BY_UNIT = -1


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, how it is shown and how it is derived."""

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
    #: How the run's counters give it (None only for a metric the catalogue does not know).
    derive: Derivation | None = field(default=None, compare=False)
    #: Early stop: for a run where this holds, the derivation evaluated on the run so far
    #: is a lower bound of the final value (a count or a peak that never decreases).
    lower_bound_when: Callable[[Simulation], bool] | None = field(default=None, compare=False)
    #: Tables show it right after this metric (by default: in the order of ``summary.json``).
    shown_after: str | None = None
    #: Significant digits for CSV/JSON-facing rounding (:data:`DEFAULT_PRECISION` by unit).
    precision: int | None = BY_UNIT

    def __post_init__(self) -> None:
        if self.precision == BY_UNIT:
            object.__setattr__(self, "precision", DEFAULT_PRECISION.get(self.unit))

    @property
    def is_fraction(self) -> bool:
        """Whether the value is a fraction of 1 (shown as a percentage)."""
        return self.unit == "fraction"

    @property
    def is_count(self) -> bool:
        """A whole-number tally: plotted from zero, never negative."""
        return self.unit == ""


def _m(name: str, label: str, unit: str, derive: Derivation, lower: bool | None = True, *, run: bool = False,
       key: bool = False, trouble: bool = False, optional: bool = False,
       bound: Callable[[Simulation], bool] | None = None, after: str | None = None) -> Metric:
    return Metric(name, label, unit, lower, run, key, trouble, optional, derive, bound, after)


# ---------------------------------------------------------------------------
# Shared intermediates of the derivations


class Fleet(NamedTuple):
    """The fleet over the window: mean billed nodes, worker-seconds of capacity, peak nodes."""

    nodes: float
    capacity: float
    nodes_peak: float


class Bill(NamedTuple):
    """The window's cost (dollars) and the monthly balancer and managed-service bills."""

    total: float
    balancer_month: float
    service_month: float


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


def _fleet(sim: Simulation, span: float) -> Fleet:
    cluster, workers = sim.cluster, sim.config.server.workers
    if cluster.dynamic:
        nodes = cluster.node_seconds(sim.t_start, sim.t_end) / span  # mean billed nodes
        capacity = workers * cluster.node_seconds(sim.t_start, sim.t_end, working=True)
        return Fleet(nodes, capacity, cluster.nodes_peak(sim.t_start, sim.t_end))
    nodes = sim.config.server.nodes
    return Fleet(nodes, workers * nodes * span, nodes)


def _cpu(sim: Simulation, fleet: Fleet, busy_measured: list[float]) -> float:
    capacity, idle = fleet.capacity, sim.config.server.idle_cpu
    cpu = sum(busy_measured) / capacity if capacity > 0 else 0.0
    if idle and capacity > 0:
        # idle CPU while a node is up (not while crashed), plus the work's share
        node_seconds = capacity / sim.config.server.workers
        cpu = node_cpu(cpu, idle, max(0.0, 1.0 - sim.cluster.crash_seconds(sim.t_start, sim.t_end) / node_seconds))
    return cpu


def _cpu_peak(sim: Simulation, fleet: Fleet, w_busy: list[list[float]], windows: range, step: float) -> float:
    """The worst busy fraction of one node in one measured sample window."""
    workers, idle = sim.config.server.workers, sim.config.server.idle_cpu
    peak = max((max((series[w] for w in windows), default=0.0) / (step * workers) for series in w_busy),
               default=0.0)
    return node_cpu(peak, idle) if idle and fleet.capacity > 0 else peak


def _work_seconds(sim: Simulation, fleet: Fleet, busy_measured: list[float]) -> float:
    """Worker-seconds the work itself took (less idle_cpu's stretch): what a managed service bills."""
    work_seconds = sum(busy_measured)
    idle = sim.config.server.idle_cpu
    if idle and fleet.capacity > 0:
        work_seconds *= 1.0 - idle
    return work_seconds


def _bill(sim: Simulation, span: float, hours: float, fleet: Fleet, bytes_total: float, work_seconds: float) -> Bill:
    """The window's cost: node-hours, egress and balancer of our own fleet, or a managed service's bill."""
    m, c = sim.metrics, sim.config
    nodes = fleet.nodes
    egress_gb = m.bytes_down / 1e9
    balancer_month, service_month = 0.0, 0.0
    service = SERVICES.get(c.deployment.kind)
    if service is None:  # our own fleet: node-hours, egress and (when priced) the balancer
        node_cost = c.cost.node_hour * nodes * hours
        egress_cost = c.cost.egress_gb * egress_gb
        if c.cost.balancer_hour or c.cost.lcu_hour:
            lcus = balancer_lcus(m.connections_opened / span, m.connections_mean(),
                                 bytes_total / 1e9 / hours, m.requests / span * BILLED_RULES_PER_REQUEST)
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
    return Bill(cost_total, balancer_month, service_month)


def _worst_window_p99(quantiles: Callable, windows: range) -> float:
    """Worst p99 of the latencies delivered in one measured sample window (NaN if none delivered).

    From the coarse per-window histograms behind ``timeseries.csv`` (buckets 10 % wide).
    """
    p99 = quantiles((0.99,))[:, 0]
    return max((p99[w] for w in windows if not math.isnan(p99[w])), default=math.nan)


def _peak_rate(series: list[int], windows: range, step: float) -> float:
    """Highest per-second rate of a per-window count over the measured sample windows."""
    return max((series[w] for w in windows), default=0) / step


#: How close to its level before an event a series must come back (relative).
RECOVERY_TOLERANCE = 0.05
#: The level before an event is the mean over this long before it (seconds).
RECOVERY_BASELINE = 60.0


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


#: Intermediates several metrics share, computed at most once per evaluation.
QUANTITIES: dict[str, Derivation] = {
    "span": formula("sim")(lambda sim: sim.t_end - sim.t_start),
    "hours": formula("span")(lambda span: span / 3600.0),
    "measured_windows": formula("sim")(lambda sim: _measured_windows(sim.metrics)),
    "sample_seconds": formula("sim")(lambda sim: sim.metrics.sample_every),
    "fleet": formula("sim", "span")(_fleet),
    "cpu": formula("sim", "fleet", "busy_measured")(_cpu),
    "work_seconds": formula("sim", "fleet", "busy_measured")(_work_seconds),
    "bytes_total": formula("bytes_down", "bytes_up")(lambda down, up: down + up),
    "payload_total": formula("payload_down", "payload_up")(lambda down, up: down + up),
    "bill": formula("sim", "span", "hours", "fleet", "bytes_total", "work_seconds")(_bill),
    "presence": formula("sim")(lambda sim: sim.presence.finish()),
    "radio": formula("sim")(lambda sim: radio_metrics(sim.radio)),
}
#: A latency over zero deliveries has no value: NaN (``null`` in summary.json, "—" in tables).
ENTRIES: tuple[Metric, ...] = (
    _m("latency.mean", "latency mean", "s", formula("latency")(lambda lat: lat.mean if lat.count else math.nan), run=True, key=True),
    _m("latency.p50", "latency p50", "s", formula("latency")(lambda lat: lat.quantile(0.50) if lat.count else math.nan), run=True),
    _m("latency.p90", "latency p90", "s", formula("latency")(lambda lat: lat.quantile(0.90) if lat.count else math.nan)),
    _m("latency.p99", "latency p99", "s", formula("latency")(lambda lat: lat.quantile(0.99) if lat.count else math.nan), run=True, key=True),
    _m("latency.max", "latency max", "s", formula("latency")(lambda lat: lat.max if lat.count else math.nan), run=True),
    _m("latency.p99_worst_window", "latency p99, worst window", "s",
       formula("window_latency_quantiles", "measured_windows")(_worst_window_p99), run=True),
    _m("deliveries.owed", "deliveries owed", "", counter("owed"), None, run=True),
    _m("notifications.published", "notifications published", "", counter("published"), None),
    _m("deliveries.delivered", "delivered", "", counter("delivered"), False, run=True),
    _m("deliveries.lost", "deliveries lost", "", counter("lost"), run=True, trouble=True, bound=_always),
    _m("deliveries.pending", "deliveries pending at end", "", counter("pending"), run=True, trouble=True),
    _m("deliveries.duplicates", "duplicate deliveries", "", counter("duplicates"), run=True, trouble=True),
    _m("requests.total", "HTTP requests", "", counter("requests"), run=True),
    _m("requests.per_second", "HTTP request rate", "/s", per_second("requests"), run=True, key=True),
    _m("requests.empty_fraction", "empty responses", "fraction", share("empty_requests", "requests"), run=True),
    _m("messages.pushed", "messages pushed", "", counter("messages_pushed"), None, run=True),
    _m("messages.heartbeats", "heartbeats", "", counter("heartbeats"), run=True),
    _m("messages.upstream", "upstream messages", "", counter("upstream_messages"), None),
    _m("connections.opened", "connections opened", "", counter("connections_opened")),
    _m("connections.refused", "connections refused", "", counter("connections_refused"), run=True, trouble=True,
       bound=_always),
    _m("connections.dropped", "connections dropped", "", counter("connections_dropped"), run=True),
    _m("connections.peak", "open connections peak", "", counter("connections_peak"), run=True, key=True,
       bound=_always),
    _m("connections.mean", "open connections mean", "", formula("connections_mean")(lambda f: f()), run=True),
    _m("connections.aged_out", "connections closed for age", "", counter("connections_aged_out"), trouble=True),
    _m("connections.half_open_peak", "half-open connections peak", "", formula("half_open_peak")(lambda f: f()),
       trouble=True),
    _m("clients.stalled", "tab streams stalled", "",
       formula("sim")(lambda sim: sim.streams_per_client.stalled * sim.config.clients.count),
       run=True, trouble=True, optional=True),
    _m("reconnects.total", "reconnects", "", counter("reconnects"), run=True),
    _m("reconnects.peak_rate", "reconnect rate, peak", "/s",
       formula("w_reconnects", "measured_windows", "sample_seconds")(_peak_rate), run=True, trouble=True),
    _m("server.cpu_utilization", "CPU utilisation", "fraction", counter("cpu"), run=True, key=True,
       bound=_static),  # busy time so far over the whole window's capacity: the final one is higher
    _m("server.cpu_utilization_peak", "CPU peak (node-window)", "fraction",
       formula("sim", "fleet", "w_busy", "measured_windows", "sample_seconds")(_cpu_peak), run=True),
    _m("server.queue_wait_mean", "queue wait mean", "s", formula("queue_wait")(lambda q: q.mean), run=True),
    _m("server.queue_wait_p99", "queue wait p99", "s", formula("queue_wait")(lambda q: q.quantile(0.99)),
       run=True),
    _m("server.memory_peak", "server memory peak", "B",
       formula("sim", "fleet", "connections_peak")(lambda sim, f, peak: memory_held(sim.config, f.nodes_peak, peak)),
       run=True, key=True, bound=_static),
    _m("server.memory_peak_per_node", "memory peak per node", "B",
       formula("sim", "node_connections_peak")(lambda sim, peaks: memory_held(sim.config, 1, max(peaks, default=0))),
       bound=_always),
    _m("backplane.cpu_utilization", "backplane CPU (redis)", "fraction",
       formula("sim")(lambda sim: sim.cluster.backplane.cpu_utilization()), run=True, optional=True,
       after="server.cpu_utilization_peak"),
    _m("server.nodes", "server nodes (mean)", "", formula("fleet")(lambda f: float(f.nodes))),
    _m("server.nodes_peak", "server nodes peak", "", formula("fleet")(lambda f: f.nodes_peak)),
    _m("server.node_hours", "node-hours (measured window)", "",
       formula("fleet", "hours")(lambda f, hours: f.nodes * hours), run=True),
    _m("autoscale.scale_outs", "autoscale scale-outs", "", formula("sim")(lambda sim: sim.cluster.scale_outs)),
    _m("autoscale.scale_ins", "autoscale scale-ins", "", formula("sim")(lambda sim: sim.cluster.scale_ins)),
    _m("connections.drained", "connections drained (node leaving)", "", counter("connections_drained")),
    _m("recovery.seconds", "longest recovery after a failure or operation", "s", formula("sim")(recovery_seconds),
       run=True, optional=True),
    _m("network.bytes_down", "bytes down", "B", counter("bytes_down")),
    _m("network.bytes_up", "bytes up", "B", counter("bytes_up")),
    _m("network.bytes_per_second", "bandwidth", "B/s", per_second("bytes_total"), run=True, key=True),
    _m("network.overhead_fraction", "overhead (non-payload bytes)", "fraction",
       formula("payload_total", "bytes_total")(lambda payload, total: 1.0 - payload / total if total else 0.0),
       run=True),
    _m("clients.online_mean", "online clients mean", "", formula("presence")(lambda p: p["clients.online_mean"]),
       None, after="connections.opened"),
    _m("clients.online_peak", "online clients peak", "", formula("presence")(lambda p: p["clients.online_peak"]),
       None, after="clients.online_mean"),
    _m("clients.sessions", "client sessions started", "", formula("presence")(lambda p: p["clients.sessions"]),
       None, after="clients.online_peak"),
    _m("clients.energy_joules_per_hour", "radio energy per client-hour", "J",
       formula("radio")(lambda r: r["clients.energy_joules_per_hour"]), run=True, optional=True,
       after="clients.sessions"),
    _m("clients.radio_active_fraction", "radio active (not idle)", "fraction",
       formula("radio")(lambda r: r["clients.radio_active_fraction"]), run=True, optional=True,
       after="clients.energy_joules_per_hour"),
    _m("webhook.attempts", "webhook attempts", "", counter("webhook_attempts"), run=True),
    _m("webhook.retries", "webhook retries", "", counter("webhook_retries"), run=True),
    _m("webhook.gave_up", "webhook gave up", "", counter("webhook_gave_up")),
    _m("push_service.sent", "messages sent to the push service", "", counter("push_service_sent"), None),
    _m("push_service.rejected", "push messages refused over quota", "", counter("push_service_rejected"),
       trouble=True),
    _m("push_service.collapsed", "push messages collapsed (superseded)", "", counter("push_service_collapsed")),
    _m("push_service.expired", "push messages expired (TTL)", "", counter("push_service_expired"), trouble=True),
    _m("quota.throttled", "connection attempts a service quota delayed", "", counter("quota_throttled"),
       trouble=True, run=True, optional=True, after="cost.service"),
    _m("cost.total", "cost of the measured window", "$", formula("bill")(lambda b: b.total), run=True, key=True),
    _m("cost.per_hour", "cost per hour", "$", formula("cost.total", "hours")(lambda cost, hours: cost / hours),
       run=True),
    _m("cost.per_month", "cost per month (730 h)", "$",
       formula("cost.total", "hours")(lambda cost, hours: cost / hours * HOURS_PER_MONTH), run=True, key=True),
    _m("cost.balancer", "load balancer per month (730 h)", "$", formula("bill")(lambda b: b.balancer_month),
       run=True, optional=True),
    _m("cost.service", "managed service bill per month (730 h)", "$", formula("bill")(lambda b: b.service_month),
       run=True, optional=True),
    _m("cost.per_million_deliveries", "cost per million deliveries", "$",
       formula("cost.total", "delivered")(lambda cost, delivered: cost / delivered * 1e6 if delivered else math.nan),
       run=True, after="cost.per_month"),
)
"""Every metric, in the order a run emits it (``summary.json``, the sweep CSVs' columns)."""

BY_NAME: dict[str, Metric] = {m.name: m for m in ENTRIES}
"""Every entry by name."""


# ---------------------------------------------------------------------------
# Evaluation


class Values(Mapping[str, Any]):
    """The named values derivations read, for one run: computed on first use, then kept.

    A name is looked up in ``given`` (``pending``) and ``sim``, then :data:`QUANTITIES`,
    then the entries (a metric another reads), then the attributes of ``sim.metrics``.
    """

    def __init__(self, sim: Simulation, **given: Any):
        self.sim = sim
        self._known: dict[str, Any] = {"sim": sim, **given}

    def __getitem__(self, name: str) -> Any:
        known = self._known
        if name in known:
            return known[name]
        if name in QUANTITIES:
            value = QUANTITIES[name](self)
        elif name in BY_NAME:
            value = BY_NAME[name].derive(self)
        else:
            try:
                value = getattr(self.sim.metrics, name)
            except AttributeError:
                raise KeyError(name) from None
        known[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


def derive_all(sim: Simulation, pending: int) -> dict[str, Any]:
    """Every entry's value for a finished run, in :data:`ENTRIES` order (raw: not yet cast)."""
    values = Values(sim, pending=pending)
    return {m.name: values[m.name] for m in ENTRIES}


def so_far(sim: Simulation, name: str) -> float | None:
    """The value so far of ``name`` in a running ``sim`` when that is a lower bound of its final value."""
    entry = BY_NAME.get(name)
    if entry is None or entry.lower_bound_when is None or not entry.lower_bound_when(sim):
        return None
    return float(entry.derive(Values(sim)))


def bounded() -> frozenset[str]:
    """The metrics whose value so far can bound their final value (early stop watches these)."""
    return frozenset(m.name for m in ENTRIES if m.lower_bound_when is not None)


def derive_from(values: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """The entries (of ``names``, or all) whose every read ``values`` supplies, derived from it.

    For counters kept elsewhere (the testbed): a metric derived from other metrics reads
    them from the result too, so it is derived once its inputs are.
    """
    wanted = set(BY_NAME if names is None else names)
    known = dict(values)
    out: dict[str, Any] = {}
    for entry in ENTRIES:
        if entry.name in wanted and all(r in known for r in entry.derive.reads):
            out[entry.name] = known[entry.name] = entry.derive(known)
    return out
