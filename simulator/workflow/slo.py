"""The SLO contract: one class per kind of limit, whose hooks a plan calls.

A plan (:mod:`simulator.workflow.planner`) asks each constraint five things,
one hook each, every hook with a documented default on :class:`Slo`:

- :meth:`Slo.holds`: does a run's metrics dict meet it (its name in the
  binding-constraint column is :attr:`Slo.constraint`);
- :meth:`Slo.ceiling`: the early-stop ceiling it gives (``engine/early_stop.py``);
- :meth:`Slo.node_floor`: the fewest nodes it needs, computed without simulating;
- :meth:`Slo.pilot_guess`: the fewest nodes it needs from a pilot run's loads;
- :attr:`Slo.autoscale_metric`: the ``[autoscale] metric`` to track when it
  binds the fleet at the peak of a ``[profile]``.

``Slo(metric, op, value)`` builds the registered type that covers ``metric``
(:func:`register_slo`; the first match wins), else the base class, a plain
bound on a metric (latency and every other metric).  Besides the user's SLOs a
plan requires every client served (:func:`served`): CPU headroom, no refused
connection and at most ``UNSERVED_ALLOWED`` of the deliveries unserved, unless
``allow_loss``.  The module functions (:func:`failures`, :func:`node_floor`,
:func:`pilot_guess`, :func:`ceilings_of`, :func:`default_policy`) run a hook
over those constraints in one order: served first, then the user's.

A new kind of SLO is a subclass here, registered with :func:`register_slo`,
and its test (``docs/design.md`` §10).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from simulator.config import ConfigError, ExperimentConfig
from simulator.config.units import parse_duration, parse_size
from simulator.engine.cluster import memory_terms
from simulator.engine.early_stop import Ceiling, watchable
from simulator.engine.mechanism import mechanism_of
from simulator.output.catalogue import CATALOGUE, describe, format_metric

METRIC_SET = frozenset(CATALOGUE)
#: Deliveries still pending or lost at the end that a plan tolerates, as a share of those owed.
UNSERVED_ALLOWED = 0.001

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_SLO = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(.+?)\s*$")
#: The [autoscale] metric when nothing that binds names one.
DEFAULT_AUTOSCALE_METRIC = "cpu"


@dataclass(frozen=True)
class PilotLoads:
    """What a pilot run measured, for :meth:`Slo.pilot_guess` at the row's real client count."""

    config: ExperimentConfig  # the row's config (its clients.count is the real one)
    metrics: dict[str, float]  # the pilot's metrics
    per_client: float  # node-shares of one client in the pilot, per unit of load (pilot nodes / clients)
    connections: float  # connections per pilot node (from memory when a connection costs memory)

    def nodes_for(self, load: float, limit: float) -> int:
        """Nodes for ``load`` per pilot node (linear in the clients) to stay within ``limit`` per node."""
        clients = self.config.clients.count
        return math.ceil(clients * load * self.per_client / limit - 1e-9) if limit > 0 else 0


_TYPES: list[type[Slo]] = []


def register_slo(cls: type[Slo]) -> type[Slo]:
    """Class decorator: ``Slo(metric, ...)`` builds ``cls`` for the metrics its ``covers`` takes."""
    _TYPES.append(cls)
    return cls


def slo_type(metric: str) -> type[Slo]:
    """The registered type that covers ``metric`` (the first registered wins), else :class:`Slo`."""
    return next((cls for cls in _TYPES if cls.covers(metric)), Slo)


def slo_types() -> tuple[type[Slo], ...]:
    """The registered types, in registration order (the priority of :func:`default_policy`)."""
    return tuple(_TYPES)


@dataclass(frozen=True)
class Slo:
    """``metric op value``, e.g. ``latency.p99 <= 2.0`` (value in the metric's base unit).

    The base class is a plain bound on a metric; ``Slo(metric, op, value)``
    returns the registered subclass that covers ``metric`` if there is one.
    """

    metric: str
    op: str
    value: float

    #: The constraint's name in the binding column (None: the metric's own name).
    family: ClassVar[str | None] = None
    #: The ``[autoscale] metric`` to track when this binds the fleet at a profile's peak
    #: (None: none; :func:`default_policy` falls back to ``DEFAULT_AUTOSCALE_METRIC``).
    autoscale_metric: ClassVar[str | None] = None
    #: The metrics a registered type covers: those whose name starts with it (None: none).
    metric_prefix: ClassVar[str | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Slo:
        """``Slo(metric, ...)``: an instance of the registered type that covers ``metric``."""
        # Slo(metric, ...) dispatches on the metric; copy and pickle call __new__(cls) bare
        if cls is Slo and (args or "metric" in kwargs):
            cls = slo_type(args[0] if args else kwargs["metric"])
        return super().__new__(cls)

    @classmethod
    def covers(cls, metric: str) -> bool:
        """Whether ``Slo(metric, ...)`` builds this type (registered types only). Default: the
        metric's name starts with :attr:`metric_prefix`."""
        return cls.metric_prefix is not None and metric.startswith(cls.metric_prefix)

    @property
    def constraint(self) -> str:
        """Its name in the binding-constraint column: :attr:`family`, else the metric."""
        return self.family or self.metric

    @property
    def is_ceiling(self) -> bool:
        """An upper bound (``<=`` or ``<``): the kind more nodes help meet."""
        return self.op in ("<=", "<")

    def holds(self, metrics: dict[str, float]) -> bool:
        """Check: ``metrics`` meet it. Default: the metric is there, not NaN, and compares true."""
        value = metrics.get(self.metric)
        return value is not None and not math.isnan(value) and _OPS[self.op](value, self.value)

    def ceiling(self) -> Ceiling | None:
        """Early stop: the ceiling a watched run is checked against. Default: an upper bound's
        own (kept only if the engine can bound the metric so far, :func:`ceilings_of`)."""
        return Ceiling(self.metric, self.op, self.value) if self.is_ceiling else None

    def node_floor(self, config: ExperimentConfig) -> int | None:
        """The fewest nodes it needs, computed without simulating. Default: None (unknown)."""
        return None

    def pilot_guess(self, loads: PilotLoads) -> int | None:
        """The fewest nodes it needs at the row's clients, from a pilot's loads. Default: None (no
        linear law: the search settles it)."""
        return None

    def __str__(self) -> str:
        shown = format_metric(self.metric, self.value) if self.metric in CATALOGUE else f"{self.value:g}"
        return f"{self.metric}{self.op}{shown}"


@register_slo
class ConnectionsSlo(Slo):
    """A bound on a ``connections.*`` metric: named "connections", tracked by connections."""

    family = "connections"
    autoscale_metric = "connections"
    metric_prefix = "connections."


@register_slo
class MemorySlo(Slo):
    """A bound on ``server.memory_peak*``; per node, memory is ``memory_base`` plus a share linear in
    the connections a node holds, so a floor and a pilot estimate follow."""

    family = "memory"
    autoscale_metric = "memory"
    metric_prefix = "server.memory_peak"

    @property
    def _per_node_ceiling(self) -> bool:
        return self.metric == "server.memory_peak_per_node" and self.is_ceiling

    def node_floor(self, config: ExperimentConfig) -> int | None:
        """A per-node ceiling below what a node's slots could hold:
        ``ceil(clients x per-connection memory / (limit - memory_base))`` (zlib state included)."""
        if not self._per_node_ceiling:
            return None
        memory_base, per_connection = memory_terms(config)  # the run's formula: zlib state included
        budget = self.value - memory_base
        if 0 < budget < config.server.max_connections * per_connection:
            return math.ceil(config.clients.count * per_connection / budget)
        return None

    def pilot_guess(self, loads: PilotLoads) -> int | None:
        """A per-node ceiling: the pilot's connections per node x the memory per connection
        against ``limit - memory_base``."""
        if not self._per_node_ceiling:
            return None
        memory_base, per_connection = memory_terms(loads.config)
        return loads.nodes_for(loads.connections * per_connection, self.value - memory_base)


@register_slo
class CpuSlo(Slo):
    """A bound on ``server.cpu_utilization*``: the work is linear in a node's clients, its
    ``server.idle_cpu`` is not (a node spends it whatever its load)."""

    family = "cpu"
    autoscale_metric = "cpu"
    metric_prefix = "server.cpu_utilization"

    def pilot_guess(self, loads: PilotLoads) -> int | None:
        """The pilot's work (CPU less idle) against the limit less idle, for the mean and the peak."""
        if self.metric not in ("server.cpu_utilization", "server.cpu_utilization_peak") or not self.is_ceiling:
            return None
        idle = loads.config.server.idle_cpu
        return loads.nodes_for(loads.metrics.get(self.metric, 0.0) - idle, self.value - idle)


# ---------------------------------------------------------------------------
# Every client served (the plan's own constraints, off with allow_loss)


class CpuHeadroom(CpuSlo):
    """A fleet that serves every client runs below 100 % CPU.  Never judged itself (a node
    past it falls behind, which shows as refusals or loss) and no early stop: it only sizes
    the pilot's guess."""

    def holds(self, metrics: dict[str, float]) -> bool:
        """Always: a fleet past its CPU is caught by the refusal and loss constraints."""
        return True

    def ceiling(self) -> Ceiling | None:
        """None: never judged, so nothing to stop a run for."""
        return None


class NoRefusals(ConnectionsSlo):
    """No refused connection: the fleet's connection slots hold every client."""

    def holds(self, metrics: dict[str, float]) -> bool:
        """No connection refused (a run without the count refused none)."""
        return not metrics.get("connections.refused", 0) > 0

    def node_floor(self, config: ExperimentConfig) -> int | None:
        """``ceil(clients / max_connections)``."""
        return math.ceil(config.clients.count / config.server.max_connections)

    def pilot_guess(self, loads: PilotLoads) -> int | None:
        """The pilot's connections per node against ``max_connections``."""
        return loads.nodes_for(loads.connections, loads.config.server.max_connections)


class BoundedLoss(Slo):
    """At most ``value`` (a share) of the deliveries owed still pending or lost at the end."""

    family = "loss"

    def holds(self, metrics: dict[str, float]) -> bool:
        """Pending plus lost at most ``value`` of the deliveries owed."""
        unserved = metrics.get("deliveries.pending", 0) + metrics.get("deliveries.lost", 0)
        return not unserved > self.value * metrics.get("deliveries.owed", 0)

    def ceiling(self) -> Ceiling | None:
        """None: the share is known only at the end (the deliveries owed grow with the run)."""
        return None


_SERVED: tuple[Slo, ...] = (
    CpuHeadroom("server.cpu_utilization", "<", 1.0),
    NoRefusals("connections.refused", "<=", 0.0),
    BoundedLoss("deliveries.unserved", "<=", UNSERVED_ALLOWED),
)


def served(allow_loss: bool) -> tuple[Slo, ...]:
    """The constraints that every client is served (none with ``allow_loss``)."""
    return () if allow_loss else _SERVED


def constraints(slos: list[Slo], allow_loss: bool) -> list[Slo]:
    """Every constraint of a plan, in the order its hooks are asked: served first, then ``slos``."""
    return [*served(allow_loss), *slos]


def constraint_name(metric: str) -> str:
    """What a limit on ``metric`` is called in the binding-constraint column."""
    return slo_type(metric).family or metric


def parse_slo(text: str, known_metrics: set[str] | frozenset[str] | None = None) -> Slo:
    """An :class:`Slo` from ``'latency.p99<=2s'``.

    The value is read in the metric's unit (catalogue): durations for seconds,
    sizes for bytes, and for a fraction either ``70%`` or ``0.7``; a fraction
    compared with a number above 1 is refused with the percent it meant.
    """
    match = _SLO.match(text)
    if not match:
        raise ConfigError(f"error: --slo {text!r}: expected METRIC<=VALUE, e.g. 'latency.p99<=2s'")
    metric, op, raw = match.groups()
    if known_metrics is not None and metric not in known_metrics:
        import difflib

        close = difflib.get_close_matches(metric, sorted(known_metrics), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"error: --slo {text!r}: unknown metric {metric!r}{hint}")
    entry = describe(metric)
    known = metric in CATALOGUE
    value: float | None = None
    if raw.endswith("%"):
        if known and not entry.is_fraction:
            raise ConfigError(f"error: --slo {text!r}: {metric} is not a fraction; a percent does not apply")
        try:
            value = float(raw[:-1]) / 100.0
        except ValueError:
            pass
    else:
        parsers: list[Callable[[str], float]] = [float]
        if not known or entry.unit == "s":
            parsers.append(parse_duration)
        if not known or entry.unit in ("B", "B/s"):
            parsers.append(lambda s: parse_size(s.removesuffix("/s")))
        for parse in parsers:
            try:
                value = float(parse(raw))
                break
            except ValueError:
                continue
    if value is None:
        raise ConfigError(f"error: --slo {text!r}: cannot read the value {raw!r}")
    if not math.isfinite(value):
        raise ConfigError(f"error: --slo {text!r}: the value must be a finite number, got {raw!r}")
    if entry.is_fraction and not raw.endswith("%") and abs(value) > 1:
        raise ConfigError(
            f"error: --slo {text!r}: {metric} is a fraction (0 to 1); did you mean {metric}{op}{value:g}%?"
        )
    return Slo(metric, op, value)

def failures(metrics: dict[str, float], slos: list[Slo], allow_loss: bool = False) -> list[str]:
    """The constraints ``metrics`` break, by name, serving every client first, then the SLOs."""
    failed: list[str] = []
    for slo in constraints(slos, allow_loss):
        if not slo.holds(metrics) and slo.constraint not in failed:
            failed.append(slo.constraint)
    return failed


def node_floor(config: ExperimentConfig, slos: list[Slo], allow_loss: bool) -> tuple[int, str | None]:
    """A first guess of the fewest nodes: what connection slots and per-node memory need.

    ``(nodes, constraint)``.  Only a guess (the search simulates one node fewer
    too), so it may be rough where connections come and go.
    """
    if not mechanism_of(config).holds_connection(config):
        return 1, None
    floor, why = 1, None
    for slo in constraints(slos, allow_loss):
        need = slo.node_floor(config)
        if need is not None and need > floor:
            floor, why = need, slo.constraint
    return floor, why


def pilot_guess(config: ExperimentConfig, slos: list[Slo], allow_loss: bool, pilot_clients: int,
                pilot_nodes: int, metrics: dict[str, float]) -> tuple[int, str | None]:
    """The fewest nodes the pilot's loads call for at ``config.clients.count``: ``(nodes, constraint)``.

    CPU and connections per node are linear in the clients a node serves, memory
    per node is ``memory_base`` plus a share linear in them: each load per client
    is measured in the pilot and scaled up (CPU less ``server.idle_cpu``, which a node
    spends whatever its load: a node has ``1 - idle_cpu`` of a core for the work).  A fleet
    that serves every client runs below 100 % CPU.  Latency and the other SLOs have no linear law: the search
    from this guess settles them.  At least :func:`node_floor`.  Each constraint's
    estimate is its :meth:`Slo.pilot_guess`.
    """
    guess, why = node_floor(config, slos, allow_loss)
    conns = metrics.get("connections.peak", 0.0) / pilot_nodes
    # the run's own memory formula (zlib state included), inverted: connections of the busiest node
    memory_base, per_connection = memory_terms(config)
    if per_connection > 0 and "server.memory_peak_per_node" in metrics:
        conns = (metrics["server.memory_peak_per_node"] - memory_base) / per_connection
    loads = PilotLoads(config, metrics, pilot_nodes / pilot_clients, conns)
    for slo in constraints(slos, allow_loss):
        nodes = slo.pilot_guess(loads)
        if nodes is not None and nodes > guess:
            guess, why = nodes, slo.constraint
    return max(1, guess), why


def ceilings_of(slos: list[Slo], allow_loss: bool) -> tuple[Ceiling, ...]:
    """The constraints a run can be seen to break before its end (``engine/early_stop.py``)."""
    limits = [c for slo in constraints(slos, allow_loss) if (c := slo.ceiling()) is not None]
    return tuple(watchable(limits))


def default_policy(binding: str) -> dict[str, Any]:
    """Target tracking on what bound the fleet at the peak (connections, memory, else CPU).

    The first registered type whose constraint is named in ``binding`` and that has an
    :attr:`Slo.autoscale_metric`; else ``DEFAULT_AUTOSCALE_METRIC``.
    """
    for cls in slo_types():
        if cls.autoscale_metric is not None and cls.family is not None and cls.family in binding:
            return {"metric": cls.autoscale_metric}
    return {"metric": DEFAULT_AUTOSCALE_METRIC}
