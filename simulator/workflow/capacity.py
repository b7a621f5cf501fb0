"""Capacity planning: the fewest nodes that meet every SLO, per mechanism and client count.

``sim plan CONFIG --clients 1000,100000 --slo 'latency.p99<=2s' --slo
'server.cpu_utilization<=0.7'`` runs the experiment with ``server.nodes`` = 1, 2,
4, ... until every SLO holds, then bisects down to the fewest nodes that still
meet them.  This assumes that adding nodes never makes a metric worse, which
holds for the load-driven metrics (latency, CPU, queue wait, memory per node)
this is meant for.  The answer comes with the metrics at that size and its
cost per hour and per month (730 hours).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from simulator.config import ConfigError, ExperimentConfig, load_config
from simulator.config.units import parse_duration, parse_size
from simulator.engine.runner import run
from simulator.output.catalogue import CATALOGUE

HOURS_PER_MONTH = 730.0
METRIC_SET = frozenset(CATALOGUE)

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_SLO = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Slo:
    """``metric op value``, e.g. ``latency.p99 <= 2.0`` (value in the metric's unit)."""

    metric: str
    op: str
    value: float

    def holds(self, metrics: dict[str, float]) -> bool:
        return _OPS[self.op](metrics[self.metric], self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_slo(text: str, known_metrics: set[str] | None = None) -> Slo:
    """An :class:`Slo` from ``'latency.p99<=2s'``; durations and sizes may carry units."""
    match = _SLO.match(text)
    if not match:
        raise ConfigError(f"error: --slo {text!r}: expected METRIC<=VALUE, e.g. 'latency.p99<=2s'")
    metric, op, raw = match.groups()
    if known_metrics is not None and metric not in known_metrics:
        import difflib

        close = difflib.get_close_matches(metric, sorted(known_metrics), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"error: --slo {text!r}: unknown metric {metric!r}{hint}")
    value: float | None = None
    for parse in (float, parse_duration, parse_size):
        try:
            value = float(parse(raw))
            break
        except ValueError:
            continue
    if value is None:
        raise ConfigError(f"error: --slo {text!r}: cannot read the value {raw!r}")
    return Slo(metric, op, value)


@dataclass
class PlanRow:
    """The answer for one mechanism and client count."""

    mechanism: str
    clients: int
    nodes: int | None  # None: no size up to max_nodes meets the SLOs
    metrics: dict[str, float] = field(default_factory=dict)
    tried: dict[int, bool] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.nodes is not None

    def as_dict(self, slos: list[Slo]) -> dict[str, Any]:
        out: dict[str, Any] = {"mechanism": self.mechanism, "clients": self.clients, "nodes": self.nodes}
        for slo in slos:
            out[slo.metric] = self.metrics.get(slo.metric)
        out["cost.per_hour"] = self.metrics.get("cost.per_hour")
        per_hour = self.metrics.get("cost.per_hour")
        out["cost.per_month"] = per_hour * HOURS_PER_MONTH if per_hour is not None else None
        out["runs"] = len(self.tried)
        return out


def _config_for(base: dict[str, Any], mechanism: str, clients: int, nodes: int) -> ExperimentConfig:
    data = {**base}
    overrides = {"clients.count": clients, "server.nodes": nodes}
    if mechanism != base["mechanism"]["kind"]:
        # A different mechanism: its own parameters at their defaults, backoff kept.
        data = {**data, "mechanism": {"kind": mechanism, "backoff": base["mechanism"]["backoff"]}}
    from simulator.config import set_dotted, validate_config

    data = _deep_copy(data)
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return validate_config(data, "<plan>")


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def plan_one(
    base: dict[str, Any], mechanism: str, clients: int, slos: list[Slo], max_nodes: int
) -> PlanRow:
    """Search the fewest nodes for one mechanism and client count (doubling, then bisection)."""
    row = PlanRow(mechanism, clients, None)
    results: dict[int, dict[str, float]] = {}

    def ok(nodes: int) -> bool:
        if nodes not in results:
            results[nodes] = run(_config_for(base, mechanism, clients, nodes)).metrics
            row.tried[nodes] = all(slo.holds(results[nodes]) for slo in slos)
        return row.tried[nodes]

    low, high = 0, 1  # low: largest size known to fail (0 = none tried)
    while not ok(high):
        low = high
        if high >= max_nodes:
            row.metrics = results[high]
            return row
        high = min(max_nodes, high * 2)
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    row.nodes = high
    row.metrics = results[high]
    return row


def plan(
    config: ExperimentConfig,
    clients: list[int],
    slos: list[Slo],
    mechanisms: list[str] | None = None,
    max_nodes: int = 64,
    workers: int = 1,
) -> list[PlanRow]:
    """Plan every (mechanism, client count) pair; rows in the order given."""
    base = config.to_dict()
    kinds = mechanisms or [config.mechanism.kind]
    jobs = [(kind, n) for kind in kinds for n in clients]
    if workers <= 1 or len(jobs) == 1:
        return [plan_one(base, kind, n, slos, max_nodes) for kind, n in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        futures = [pool.submit(plan_one, base, kind, n, slos, max_nodes) for kind, n in jobs]
        return [f.result() for f in futures]


def load_plan_config(path: str, overrides: list[str]) -> ExperimentConfig:
    """The base config of a plan (``--set`` applied)."""
    return load_config(path, overrides)
