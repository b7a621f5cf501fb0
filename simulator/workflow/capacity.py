"""Capacity planning: the fewest nodes that meet every SLO, per mechanism and client count.

``sim plan CONFIG --clients 1000,100000 --slo 'latency.p99<=2s' --slo
'server.cpu_utilization<=70%'`` runs the experiment with ``server.nodes`` set to
a first guess (the fewest nodes whose connection slots and memory can hold
every client, computed without simulating; 1 when nothing limits), doubles it
until every constraint holds, then bisects down to the fewest nodes that still
meet them, so the size one node smaller is always simulated and seen to fail.
This assumes that adding nodes never makes a metric worse, which holds for the
load-driven metrics (latency, CPU, queue wait, memory per node) this is meant
for.

At scale (``PILOT_MIN_CLIENTS`` clients and more) a *pilot* comes first: the
same config with 1/``PILOT_SCALE`` of the clients on a few nodes.  Its CPU,
connections and memory per node, scaled linearly to the real client count
(:func:`pilot_guess`), give a first guess usually within a node of the answer;
the search then gallops from it (1, 2, 4, ... nodes away) instead of doubling
from the floor, so 2-3 sizes near the answer are simulated.  The guess only
decides what runs first: the answer is still the fewest size seen to pass with
the size below seen to fail.  A run of a failing size stops as soon as it
breaks a limit for certain (a refused connection, busy time past the CPU
target, ...: ``engine/early_stop.py``), except at ``max_nodes``, whose metrics
an infeasible row shows; its binding constraint then names what it had broken
by then.

Besides the user's SLOs a fleet must serve every client: no refused
connection, and at most 0.1 % of the deliveries owed still pending or lost at
the end (``allow_loss`` turns these two off).  Each answer names its *binding
constraint*: what failed at one node fewer.

``tune`` (``--tune KEY=V1,V2``) searches a setting together with the node
count; each row then reports the cheapest (setting, nodes) pair meeting every
constraint (ties: fewer nodes, then the value order given).  Every simulation
goes through the sweep executor (:func:`simulator.workflow.sweep.execute`), in
rounds: each round runs the next size every unfinished search needs.  No
(config, seed) is simulated twice.

With a ``[profile]`` the answer is an autoscaling policy: ``min_nodes`` is the
search above at the profile's lowest multiplier over the run (1 if the load
drops to 0), ``max_nodes`` at its highest, each on the config without
``[profile]``/``[autoscale]`` with the load scaled as ``applies_to`` says.  One
run over the whole profile with ``[autoscale]`` between those bounds (the
config's policy, else target tracking on what bound the peak) then gives the
node-hours and the monthly cost, and shows whether the SLOs held over the run.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import operator
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.config import (
    DEFAULT_KIND,
    ConfigError,
    ExperimentConfig,
    load_config,
    parse_override_value,
    read_toml,
    registry,
    set_dotted,
    validate_config,
    validate_dotted_key,
)
from simulator.config.units import parse_duration, parse_size
from simulator.engine.billing import HOURS_PER_MONTH
from simulator.engine.early_stop import Ceiling, RunStopped, watchable, watcher
from simulator.engine.estimate import check_fits
from simulator.engine.mechanism import mechanism_of
from simulator.engine.profile import LoadProfile
from simulator.engine.runner import run
from simulator.output.catalogue import CATALOGUE, describe, format_metric
from simulator.workflow.grid import Task, canonical, parse_set, run_task
from simulator.workflow.sweep import execute as sweep_execute

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


# ---------------------------------------------------------------------------
# Constraints


def constraint_name(metric: str) -> str:
    """What a limit on ``metric`` is called in the binding-constraint column."""
    if metric.startswith("connections."):
        return "connections"
    if metric.startswith("server.cpu_utilization"):
        return "cpu"
    if metric.startswith("server.memory_peak"):
        return "memory"
    return metric


@dataclass(frozen=True)
class Slo:
    """``metric op value``, e.g. ``latency.p99 <= 2.0`` (value in the metric's base unit)."""

    metric: str
    op: str
    value: float

    def holds(self, metrics: dict[str, float]) -> bool:
        value = metrics.get(self.metric)
        return value is not None and not math.isnan(value) and _OPS[self.op](value, self.value)

    @property
    def constraint(self) -> str:
        return constraint_name(self.metric)

    def __str__(self) -> str:
        shown = format_metric(self.metric, self.value) if self.metric in CATALOGUE else f"{self.value:g}"
        return f"{self.metric}{self.op}{shown}"


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
    if not allow_loss:
        if metrics.get("connections.refused", 0) > 0:
            failed.append("connections")
        unserved = metrics.get("deliveries.pending", 0) + metrics.get("deliveries.lost", 0)
        if unserved > UNSERVED_ALLOWED * metrics.get("deliveries.owed", 0):
            failed.append("loss")
    for slo in slos:
        if not slo.holds(metrics) and slo.constraint not in failed:
            failed.append(slo.constraint)
    return failed


# ---------------------------------------------------------------------------
# Limits computable without simulating


def node_floor(config: ExperimentConfig, slos: list[Slo], allow_loss: bool) -> tuple[int, str | None]:
    """A first guess of the fewest nodes: what connection slots and per-node memory need.

    ``(nodes, constraint)``.  Only a guess (the search simulates one node fewer
    too), so it may be rough where connections come and go.
    """
    if not mechanism_of(config).holds_connection(config):
        return 1, None
    clients, server = config.clients.count, config.server
    floor, why = 1, None
    if not allow_loss:
        need = math.ceil(clients / server.max_connections)
        if need > floor:
            floor, why = need, "connections"
    for slo in slos:
        if slo.metric == "server.memory_peak_per_node" and slo.op in ("<=", "<"):
            budget = slo.value - server.memory_base
            if 0 < budget < server.max_connections * server.memory_per_connection:
                need = math.ceil(clients * server.memory_per_connection / budget)
                if need > floor:
                    floor, why = need, "memory"
    return floor, why


#: From this many clients a plan first simulates a pilot: the same config with 1/PILOT_SCALE
#: of the clients (on a few nodes), whose per-node loads, scaled linearly, give the first guess.
PILOT_MIN_CLIENTS = 20_000
PILOT_SCALE = 50


def pilot_size(config: ExperimentConfig, scale: int = PILOT_SCALE) -> tuple[int, int]:
    """``(clients, nodes)`` of a pilot: 1/scale of the clients on at least 2 nodes (so a
    cluster's shared-state cost shows), each node at most half full of connections."""
    clients = max(1, math.ceil(config.clients.count / scale))
    return clients, max(2, math.ceil(2 * clients / config.server.max_connections))


def pilot_guess(config: ExperimentConfig, slos: list[Slo], allow_loss: bool, pilot_clients: int,
                pilot_nodes: int, metrics: dict[str, float]) -> tuple[int, str | None]:
    """The fewest nodes the pilot's loads call for at ``config.clients.count``: ``(nodes, constraint)``.

    CPU and connections per node are linear in the clients a node serves, memory
    per node is ``memory_base`` plus a share linear in them: each load per client
    is measured in the pilot and scaled up (CPU less ``server.idle_cpu``, which a node
    spends whatever its load: a node has ``1 - idle_cpu`` of a core for the work).  A fleet
    that serves every client runs below 100 % CPU.  Latency and the other SLOs have no linear law: the search
    from this guess settles them.  At least :func:`node_floor`.
    """
    clients, server = config.clients.count, config.server
    guess, why = node_floor(config, slos, allow_loss)
    per_client = pilot_nodes / pilot_clients  # node-shares of one client in the pilot, per unit of load

    def need(load: float, limit: float) -> int:
        return math.ceil(clients * load * per_client / limit - 1e-9) if limit > 0 else 0

    # a node spends server.idle_cpu whatever its load: only the rest (the work) is linear in
    # its clients, and only the rest of a core is left for it under a CPU limit
    idle = server.idle_cpu
    cpu = metrics.get("server.cpu_utilization", 0.0) - idle
    conns = metrics.get("connections.peak", 0.0) / pilot_nodes
    if server.memory_per_connection > 0 and "server.memory_peak_per_node" in metrics:
        conns = (metrics["server.memory_peak_per_node"] - server.memory_base) / server.memory_per_connection
    wants: list[tuple[int, str]] = []
    if not allow_loss:
        wants += [(need(cpu, 1.0 - idle), "cpu"), (need(conns, server.max_connections), "connections")]
    for slo in slos:
        if slo.op not in ("<=", "<"):
            continue
        if slo.metric in ("server.cpu_utilization", "server.cpu_utilization_peak"):
            wants.append((need(metrics.get(slo.metric, 0.0) - idle, slo.value - idle), "cpu"))
        elif slo.metric == "server.memory_peak_per_node":
            wants.append((need(conns * server.memory_per_connection, slo.value - server.memory_base), "memory"))
    for nodes, constraint in wants:
        if nodes > guess:
            guess, why = nodes, constraint
    return max(1, guess), why


#: The "size" of a pilot run in a plan's bookkeeping.
PILOT = -1


# ---------------------------------------------------------------------------
# Early stop of a failing fleet

#: Set in the metrics of a run stopped early (simulated seconds): its other metrics are
#: only the values so far of the limits it broke.
STOPPED_AT = "plan.stopped_at"


def ceilings_of(slos: list[Slo], allow_loss: bool) -> tuple[Ceiling, ...]:
    """The constraints a run can be seen to break before its end (``engine/early_stop.py``)."""
    limits = [] if allow_loss else [Ceiling("connections.refused", "<=", 0.0)]
    limits += [Ceiling(s.metric, s.op, s.value) for s in slos if s.op in ("<=", "<")]
    return tuple(watchable(limits))


@dataclass(frozen=True)
class PlanTask(Task):
    """A run of a candidate fleet, stopped once it breaks one of ``ceilings`` for certain."""

    ceilings: tuple[Ceiling, ...] = ()


def run_plan_task(task: Task) -> dict[str, Any]:
    """:func:`simulator.workflow.grid.run_task`, watched: a run stopped early is ``ok`` with
    the values so far of what it broke, and :data:`STOPPED_AT`."""
    ceilings = getattr(task, "ceilings", ())
    if not ceilings:
        return run_task(task)
    started = time.perf_counter()
    record: dict[str, Any] = {"point": task.point, "replication": task.replication, "seed": task.seed,
                              "key": task.key()}
    try:
        result = run(task.config(), watch=watcher(list(ceilings)))
    except RunStopped as stop:
        record.update(status="ok", metrics={**stop.bounds, STOPPED_AT: stop.at},
                      wall_seconds=time.perf_counter() - started)
        return record
    except Exception as exc:  # recorded like run_task does, and the plan goes on
        record.update(status="error", error=f"{type(exc).__name__}: {exc}".strip(),
                      traceback=traceback.format_exc(limit=8), wall_seconds=time.perf_counter() - started)
        return record
    record.update(status="ok", metrics=result.metrics, wall_seconds=time.perf_counter() - started,
                  events=result.run.get("events_processed", 0))
    return record


def execute(tasks: list[Task], workers: int, scheduler: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    """The sweep executor, with plan runs that stop early (:func:`run_plan_task`)."""
    sweep_execute(tasks, workers, scheduler, emit, func=run_plan_task)


# ---------------------------------------------------------------------------
# The search over the node count


class NodeSearch:
    """The fewest passing node count in [1, max_nodes]: from a first guess, doubling, then bisection.

    Feed it with :meth:`feed`; :meth:`next` says which size to simulate next
    (None when done).  When the guess passes, the size one below is tried
    next, so a good guess costs two runs.

    ``gallop`` (for a guess close to the answer, from a pilot run) steps away
    from the guess by 1, 2, 4, ... nodes, up while it fails and down while it
    passes, then bisects: an answer ``d`` nodes from the guess costs about
    ``2 log2(d) + 2`` runs instead of ``log2(guess)``.
    """

    def __init__(self, floor: int, max_nodes: int, gallop: bool = False):
        self.max_nodes = max_nodes
        self.probe: int | None = max(1, min(floor, max_nodes))
        self.low = 0  # largest size known to fail (0: none)
        self.high: int | None = None  # smallest size known to pass
        self.passed: dict[int, bool] = {}
        self.gallop = gallop
        self.step = 1  # the next galloping step

    @property
    def done(self) -> bool:
        return self.probe is None

    @property
    def nodes(self) -> int | None:
        return self.high if self.done else None

    def next(self) -> int | None:
        return self.probe

    def feed(self, nodes: int, passed: bool) -> None:
        self.passed[nodes] = passed
        if passed:
            self.high = nodes if self.high is None else min(self.high, nodes)
        else:
            self.low = max(self.low, nodes)
        if self.high is None:  # still looking for a size that passes
            if self.low >= self.max_nodes:
                self.probe = None
            elif self.gallop:
                self.probe = min(self.max_nodes, self.low + self.step)
                self.step *= 2
            else:
                self.probe = min(self.max_nodes, max(1, self.low * 2))
        elif self.high - self.low <= 1:
            self.probe = None
        elif self.gallop and self.low == 0:  # every size tried passed: walk down from the guess
            self.probe = max(1, self.high - self.step)
            self.step *= 2
        elif len(self.passed) == 1:
            self.probe = self.high - 1  # the first guess passed: is it the fewest?
        else:
            self.probe = (self.low + self.high) // 2

    def remaining(self) -> int:
        """About how many more runs this search needs (for the progress estimate)."""
        if self.done:
            return 0
        if self.gallop:  # the guess is close: one more size, about
            return 1 if self.high is None or self.low > 0 else 2
        if self.high is None:  # one more size, then bisection between it and the one before
            return 2 if self.low == 0 else 1 + math.ceil(math.log2(max(2, self.low)))
        return max(1, math.ceil(math.log2(max(2, self.high - self.low))))


# ---------------------------------------------------------------------------
# Plan rows


@dataclass
class Candidate:
    """One (mechanism, clients, --tune setting): its config data and node search."""

    setting: dict[str, Any]
    data: dict[str, Any]  # raw config data, clients.count and the setting applied; nodes set per run
    floor: int
    floor_reason: str | None
    search: NodeSearch
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # nodes -> {metrics, failed}
    error: str | None = None
    #: A proxy of one run's wall time (clients x simulated seconds), for scheduling and the ETA.
    cost: float = 0.0
    #: With a [profile]: "peak" or "trough", the load this search sizes the fleet for ("" without one).
    role: str = ""
    #: The pilot run's config data while it is to run (None: no pilot, or done), its clients and nodes.
    pilot: dict[str, Any] | None = None
    pilot_clients: int = 0
    pilot_nodes: int = 0
    pilot_runs: int = 0

    def data_at(self, nodes: int) -> dict[str, Any]:
        data = copy.deepcopy(self.data)
        set_dotted(data, "server.nodes", nodes)
        return data

    @property
    def pilot_cost(self) -> float:
        return self.cost * self.pilot_clients / max(1, int(self.data["clients"]["count"]))


@dataclass
class PlanRow:
    """The answer for one mechanism and client count."""

    mechanism: str
    clients: int
    nodes: int | None  # None: no size up to max_nodes meets the constraints
    metrics: dict[str, float] = field(default_factory=dict)
    tried: dict[int, bool] = field(default_factory=dict)  # of the chosen setting
    setting: dict[str, Any] = field(default_factory=dict)
    binding: str = ""
    runs: int = 0
    applicable: bool = True
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # resolved config of the answer's run
    error: str | None = None
    #: With a [profile]: the autoscaling bounds (fewest nodes at the trough and at the peak); the
    #: metrics are then those of the verification run over the whole profile.
    min_nodes: int | None = None
    max_nodes: int | None = None
    #: The constraints the run over the profile broke ("" = none): such a row is never the cheapest.
    profile_broke: str = ""

    @property
    def profiled(self) -> bool:
        return self.min_nodes is not None

    @property
    def feasible(self) -> bool:
        return self.nodes is not None

    @property
    def key(self) -> tuple[str, int]:
        return self.mechanism, self.clients

    @property
    def config_name(self) -> str:
        return f"{self.mechanism}-{self.clients}.toml"

    def as_dict(self, slos: list[Slo]) -> dict[str, Any]:
        """One line of ``plan.csv``: the answer, then every metric of its run."""
        out: dict[str, Any] = {"mechanism": self.mechanism, "clients": self.clients}
        out.update(self.setting)
        out.update(nodes=self.nodes, binding=self.binding, applicable=self.applicable)
        if self.profiled:
            out.update(min_nodes=self.min_nodes, max_nodes=self.max_nodes,
                       node_hours=self.metrics.get("server.node_hours"), profile_broke=self.profile_broke)
        for slo in slos:
            out[slo.metric] = self.metrics.get(slo.metric)
        per_hour = self.metrics.get("cost.per_hour")
        out["cost.per_hour"] = per_hour
        out["cost.per_month"] = per_hour * HOURS_PER_MONTH if per_hour is not None else None
        out["runs"] = self.runs
        out["note"] = "; ".join(self.notes)
        out["config"] = f"configs/{self.config_name}" if self.config else ""
        for name in CATALOGUE:
            out.setdefault(name, self.metrics.get(name))
        for name, value in self.metrics.items():
            out.setdefault(name, value)
        return out

    def state(self) -> dict[str, Any]:
        """Everything to rebuild the row (``manifest.json``)."""
        return {
            "mechanism": self.mechanism, "clients": self.clients, "nodes": self.nodes,
            "metrics": self.metrics, "tried": {str(k): v for k, v in self.tried.items()},
            "setting": self.setting, "binding": self.binding, "runs": self.runs,
            "applicable": self.applicable, "notes": self.notes, "config": self.config, "error": self.error,
            **({"min_nodes": self.min_nodes, "max_nodes": self.max_nodes, "profile_broke": self.profile_broke}
               if self.profiled else {}),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PlanRow:
        row = cls(**{k: v for k, v in state.items() if k != "tried"})
        row.tried = {int(k): bool(v) for k, v in state.get("tried", {}).items()}
        return row


def _binding(cand: Candidate) -> str:
    """What failed at one node fewer than ``cand``'s answer."""
    below = cand.search.low
    return "none (1 node is the minimum)" if below == 0 else ", ".join(cand.results[below]["failed"])


def cheapest(rows: list[PlanRow]) -> dict[int, PlanRow]:
    """Per client count, the cheapest feasible row a mechanism can serve (ties: fewer nodes, then order)."""
    best: dict[int, PlanRow] = {}
    for row in rows:
        if not (row.feasible and row.applicable) or row.profile_broke:
            continue
        current = best.get(row.clients)
        if current is None or _price(row) < _price(current):
            best[row.clients] = row
    return best


def _price(row: PlanRow) -> tuple[float, int]:
    return row.metrics.get("cost.per_hour", math.inf), row.nodes or 0


# ---------------------------------------------------------------------------
# Inputs: the config data, mechanisms and --tune settings


def parse_tune(items: list[str] | tuple[str, ...] | dict[str, list[Any]] | None) -> dict[str, list[Any]]:
    """``["mechanism.interval=1s,2s"]`` (or a mapping) -> ``{"mechanism.interval": ["1s", "2s"]}``."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {k: list(v) for k, v in items.items()}

    out: dict[str, list[Any]] = {}
    for item in items:
        try:
            key, values = parse_set(item)
        except ConfigError as exc:
            raise ConfigError([line.replace("--set", "--tune", 1) for line in exc.lines]) from None
        if key in ("server.nodes", "clients.count", "mechanism.kind"):
            what = {"server.nodes": "the node count is what the plan searches",
                    "clients.count": "use --clients", "mechanism.kind": "use --mechanisms"}[key]
            raise ConfigError(f"error: --tune {item!r}: {key} cannot be tuned ({what})")
        if key in out:
            raise ConfigError(f"error: --tune {item!r}: {key} is given twice")
        out[key] = values
    return out


def plan_data(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The config as written (``--set`` applied), every mechanism's keys kept, without ``[sweep]``.

    Validated first (bad input raises :class:`ConfigError`); the raw data keeps
    the parameters of the kinds a file compares (``hold`` for long polling in a
    short-polling file with a mechanism sweep), which the resolved config drops.
    """
    load_config(path, list(overrides))
    data = read_toml(path) if path is not None else {}
    for item in overrides:
        key, _, value = item.partition("=")
        set_dotted(data, key.strip(), parse_override_value(value.strip()))
    data.pop("sweep", None)
    return data


def _kind_fields(kind: str) -> set[str]:
    return set(registry.get(kind).Params.model_fields)


def mechanism_data(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data`` for mechanism ``kind``: the keys of ``[mechanism]`` that kind has, the others dropped."""
    out = copy.deepcopy(data)
    mech = out.setdefault("mechanism", {})
    mech["kind"] = kind
    fields = _kind_fields(kind)
    for key in [k for k in mech if k not in ("kind", "backoff") and k not in fields]:
        del mech[key]
    return out


def _applies(key: str, kind: str) -> bool:
    parts = key.split(".")
    return not (parts[0] == "mechanism" and len(parts) > 1 and parts[1] != "backoff" and parts[1] not in _kind_fields(kind))


def check_tune(tune: dict[str, list[Any]], kinds: list[str]) -> None:
    """Each tuned key names a config key some planned mechanism has (a typo is an error)."""

    for key in tune:
        if key.startswith("mechanism.") and key.split(".")[1] != "backoff":
            if not any(_applies(key, kind) for kind in kinds):
                import difflib

                every = sorted(set().union(*(_kind_fields(k) for k in kinds)))
                close = difflib.get_close_matches(key.split(".")[1], every, n=1)
                hint = f"; did you mean 'mechanism.{close[0]}'?" if close else ""
                raise ConfigError(f"error: --tune {key}: not a parameter of {', '.join(kinds)}{hint}")
        else:
            try:
                validate_dotted_key(key, source="--tune")
            except ConfigError as exc:
                raise ConfigError([line.replace("--set", "--tune") for line in exc.lines]) from None


def settings_for(tune: dict[str, list[Any]], kind: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The --tune settings that apply to ``kind`` (product of the values, in the order given)."""
    keys = [k for k in tune if _applies(k, kind)]
    skipped = [k for k in tune if k not in keys]
    notes = [f"{', '.join(skipped)}: not a setting of {kind}"] if skipped else []
    combos = itertools.product(*(tune[k] for k in keys))
    return [dict(zip(keys, combo, strict=True)) for combo in combos], notes


# ---------------------------------------------------------------------------
# A plan over a [profile]: the autoscaling bounds, then one run of the whole profile


def profile_range(config: ExperimentConfig) -> tuple[float, float, float]:
    """``(lowest, highest, at t=0)`` of the profile's multiplier over the run, warm-up included."""
    load = LoadProfile(config.profile)
    end = config.experiment.warmup + config.experiment.duration
    extremes = list(load.breaks)
    if load.kind == "diurnal":  # the peak and trough times, so the grid does not step over them
        first = math.floor((0.0 - load.peak_at) / load.period) * 2
        extremes = [load.peak_at + k * load.period / 2 for k in range(first, first + int(2 * end / load.period) + 4)]
    grid = np.union1d(np.linspace(0.0, end, 2001), [t for t in extremes if 0.0 <= t <= end])
    values = np.asarray(load.multiplier(grid), dtype=float)
    return float(values.min()), float(values.max()), float(values[0])


def scaled_data(data: dict[str, Any], config: ExperimentConfig, multiplier: float) -> dict[str, Any]:
    """``data`` without ``[profile]`` and ``[autoscale]``: a fixed fleet under the load at ``multiplier``.

    The multiplier scales what the profile's ``applies_to`` says: the online
    population (``clients.count`` is the peak; rounded up) and/or ``workload.rate``.
    """
    out = copy.deepcopy(data)
    out.pop("profile", None)
    out.pop("autoscale", None)
    targets = config.profile.applies_to
    if "clients" in targets:
        set_dotted(out, "clients.count", max(1, math.ceil(multiplier * config.clients.count - 1e-9)))
    if "rate" in targets:
        set_dotted(out, "workload.rate", config.workload.rate * multiplier)
    return out


def default_policy(binding: str) -> dict[str, Any]:
    """Target tracking on what bound the fleet at the peak (connections, memory, else CPU)."""
    for metric in ("connections", "memory"):
        if metric in binding:
            return {"metric": metric}
    return {"metric": "cpu"}


# ---------------------------------------------------------------------------
# The planner


@dataclass
class Planner:
    """Every row of a plan and its searches; :meth:`run` simulates what is missing."""

    data: dict[str, Any]
    clients: list[int]
    slos: list[Slo]
    mechanisms: list[str]
    max_nodes: int = 64
    tune: dict[str, list[Any]] = field(default_factory=dict)
    allow_loss: bool = False
    source: str = "<plan>"
    rows: dict[tuple[str, int], PlanRow] = field(default_factory=dict)  # finished rows
    #: Simulations already made (also by an earlier session): task key -> metrics.
    known: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    work_done: float = 0.0  # cost of the runs made by this session (the ETA)
    #: A row of at least this many clients starts with a pilot run of 1/pilot_scale of them.
    pilot_min_clients: int = PILOT_MIN_CLIENTS
    pilot_scale: int = PILOT_SCALE
    #: Stop a failing fleet's run once it broke a limit for certain (never at max_nodes).
    early_stop: bool = True

    def __post_init__(self) -> None:
        check_tune(self.tune, self.mechanisms)
        self.profiled = "profile" in self.data
        if self.profiled and self.tune:
            raise ConfigError("error: --tune: not supported with [profile] (plan one setting at a time with --set)")
        #: With a [profile]: per row, (lowest, highest, at t=0) multiplier; and runs over the profile that failed.
        self.profile_info: dict[tuple[str, int], tuple[float, float, float]] = {}
        self.verify_errors: dict[tuple[str, int], str] = {}
        first = self.mechanisms[0] if self.mechanisms else DEFAULT_KIND
        self.seed = int(validate_config(mechanism_data(self.data, first), self.source).experiment.seed)
        self.candidates: dict[tuple[str, int], list[Candidate]] = {}
        self.row_notes: dict[tuple[str, int], list[str]] = {}
        self.ceilings = ceilings_of(self.slos, self.allow_loss) if self.early_stop else ()
        client_kind = (self.data.get("clients") or {}).get("kind", "browser")
        for kind in self.mechanisms:
            kind_note = registry.client_kind_note(kind, client_kind)
            if kind_note:
                kind_note = f"not applicable: {kind_note}"
                self.warnings.append(f"{kind_note}: its rows are never chosen as the cheapest")
            settings, notes = settings_for(self.tune, kind)
            for n in self.clients:
                cands = []
                for setting in settings:
                    data = mechanism_data(self.data, kind)
                    set_dotted(data, "clients.count", n)
                    for key, value in setting.items():
                        set_dotted(data, key, value)
                    config = self._validate(data, kind, n, setting)
                    e = config.experiment
                    cost = n * (e.warmup + e.duration)
                    if self.profiled:
                        cands += self._profile_candidates(kind, n, data, config, cost)
                        continue
                    floor, why = node_floor(config, self.slos, self.allow_loss)
                    cand = Candidate(setting, data, floor, why, NodeSearch(floor, self.max_nodes), cost=cost)
                    self._add_pilot(cand, config)
                    cands.append(cand)
                self.candidates[(kind, n)] = cands
                self.row_notes[(kind, n)] = ([kind_note] if kind_note else []) + notes

    def _profile_candidates(self, kind: str, clients: int, data: dict[str, Any], config: ExperimentConfig,
                            cost: float) -> list[Candidate]:
        """The searches at the peak and (unless the load drops to 0) the trough of the profile."""
        low, high, start = profile_range(config)
        self.profile_info[(kind, clients)] = (low, high, start)
        cands = []
        for role, multiplier in (("peak", high), ("trough", low)):
            if multiplier <= 0:
                continue  # no load at the trough: the fewest nodes a policy keeps is 1
            scaled = scaled_data(data, config, multiplier)
            fixed = self._validate(scaled, kind, clients, {"profile": role})
            floor, why = node_floor(fixed, self.slos, self.allow_loss)
            cand = Candidate({}, scaled, floor, why, NodeSearch(floor, self.max_nodes), cost=cost, role=role)
            self._add_pilot(cand, fixed)
            cands.append(cand)
        return cands

    def _add_pilot(self, cand: Candidate, config: ExperimentConfig) -> None:
        """Give ``cand`` a pilot run when it is large enough for one to pay off."""
        if config.clients.count < self.pilot_min_clients or self.max_nodes < 2:
            return
        clients, nodes = pilot_size(config, self.pilot_scale)
        if clients >= config.clients.count:
            return
        cand.pilot = cand.data_at(nodes)
        set_dotted(cand.pilot, "clients.count", clients)
        cand.pilot_clients, cand.pilot_nodes = clients, nodes

    def _pilot_key(self, cand: Candidate) -> str:
        return Task(cand.pilot, self.source, "", 0, self.seed).key()

    def _apply_pilot(self, cand: Candidate, metrics: dict[str, float] | None) -> None:
        """Start ``cand``'s search from what its pilot calls for (from its floor if the pilot failed)."""
        if metrics is not None:
            config = validate_config(copy.deepcopy(cand.data), self.source)
            guess, why = pilot_guess(config, self.slos, self.allow_loss, cand.pilot_clients, cand.pilot_nodes,
                                     metrics)
            cand.search = NodeSearch(guess, self.max_nodes, gallop=True)
            cand.floor, cand.floor_reason = guess, why
        cand.pilot = None
        cand.pilot_runs = 1

    def _verification(self, key: tuple[str, int]) -> tuple[dict[str, Any], str] | None:
        """The run over the whole profile with [autoscale] between the bounds found: (data, task key).

        None while a search is running, or when a search failed or found no size.
        """
        cands = self.candidates[key]
        if any(c.error is not None or c.search.nodes is None for c in cands):
            return None
        peak = cands[0]
        trough = cands[1].search.nodes if len(cands) > 1 else 1
        high = peak.search.nodes
        low = min(trough, high)
        kind, clients = key
        data = mechanism_data(self.data, kind)
        set_dotted(data, "clients.count", clients)
        policy = copy.deepcopy(self.data.get("autoscale")) or default_policy(_binding(peak))
        policy.update(min_nodes=low, max_nodes=high)
        data["autoscale"] = policy
        lowest, _, start = self.profile_info[key]
        set_dotted(data, "server.nodes", low if start <= lowest else high)  # start where the load starts
        return data, Task(data, self.source, "", 0, self.seed).key()

    def _new_row(self, key: tuple[str, int]) -> tuple[list, PlanRow, list[str]] | None:
        """The row's candidates, a fresh row with its run count, and its notes; None while searching."""
        cands = self.candidates[key]
        if any(c.error is None and not c.search.done for c in cands):
            return None
        kind, clients = key
        notes = list(self.row_notes[key])
        row = PlanRow(kind, clients, None, applicable=not any(n.startswith("not applicable") for n in notes))
        row.runs = sum(len(c.results) + c.pilot_runs for c in cands)
        return cands, row, notes

    def _finish_profile(self, key: tuple[str, int]) -> PlanRow | None:
        """The row of a plan over a profile, once both searches and the run over the profile are done."""
        started = self._new_row(key)
        if started is None:
            return None
        cands, row, notes = started
        errors = [c.error for c in cands if c.error is not None]
        unsized = next((c for c in cands if c.error is None and c.search.nodes is None), None)
        if errors or key in self.verify_errors:
            row.error = errors[0] if errors else self.verify_errors[key]
            row.binding = "error"
            notes.append(f"error: {row.error}")
        elif unsized is not None:
            shown = unsized.search.low
            failed = unsized.results[shown]["failed"] if shown in unsized.results else []
            row.binding = f"{', '.join(failed)} (still at {shown} nodes at the {unsized.role})"
            row.metrics = dict(unsized.results[shown]["metrics"])
            row.config = validate_config(unsized.data_at(shown), self.source).to_dict()
        else:
            data, vkey = self._verification(key)  # type: ignore[misc]
            metrics = self.known.get(vkey)
            if metrics is None:
                return None  # the run over the profile is still to do
            row.runs += 1
            peak = cands[0]
            row.max_nodes = row.nodes = peak.search.nodes
            row.min_nodes = data["autoscale"]["min_nodes"]
            row.binding = _binding(peak)
            row.tried = dict(peak.search.passed)
            row.metrics = dict(metrics)
            broken = failures(metrics, self.slos, self.allow_loss)
            if broken:
                row.profile_broke = ", ".join(broken)
                notes.append(f"the run over the profile broke {row.profile_broke}")
            row.config = validate_config(copy.deepcopy(data), self.source).to_dict()
        row.config.pop("sweep", None)
        row.notes = notes
        self.rows[key] = row
        return row

    def _validate(self, data: dict[str, Any], kind: str, clients: int, setting: dict[str, Any]) -> ExperimentConfig:

        where = ", ".join([f"mechanism {kind}", f"{clients} clients", *(f"{k}={v}" for k, v in setting.items())])
        try:
            config = validate_config(copy.deepcopy(data), self.source)
            check_fits(config, self.source)
        except ConfigError as exc:
            raise ConfigError([f"{line} (plan: {where})" for line in exc.lines]) from None
        return config

    # -- bookkeeping ------------------------------------------------------

    def task_key(self, cand: Candidate, nodes: int) -> str:

        return Task(cand.data_at(nodes), self.source, "", 0, self.seed).key()

    def row_keys(self) -> list[tuple[str, int]]:
        return [(kind, n) for kind in self.mechanisms for n in self.clients]

    def pending_rows(self) -> list[tuple[str, int]]:
        return [key for key in self.row_keys() if key not in self.rows]

    def runs_estimate(self) -> int:
        """Runs still to do, about (progress)."""
        return sum(c.search.remaining() + (c.pilot is not None) for key in self.pending_rows()
                   for c in self.candidates[key] if c.error is None) + (len(self.pending_rows()) if self.profiled else 0)

    def work_estimate(self) -> float:
        """The cost (clients x simulated seconds) of the runs still to do, about (the ETA)."""
        return sum(c.search.remaining() * c.cost + (c.pilot_cost if c.pilot is not None else 0.0)
                   for key in self.pending_rows() for c in self.candidates[key] if c.error is None)

    def _feed(self, cand: Candidate, nodes: int, metrics: dict[str, float]) -> None:
        slos = self.slos
        if STOPPED_AT in metrics:  # stopped early: judged on the limits it had broken
            slos = [s for s in slos if s.metric in metrics]
        failed = failures(metrics, slos, self.allow_loss)
        cand.results[nodes] = {"metrics": metrics, "failed": failed}
        cand.search.feed(nodes, not failed)

    def _advance(self, cand: Candidate) -> None:
        """Feed ``cand`` every size already simulated, up to the next one to run."""
        if cand.pilot is not None:
            metrics = self.known.get(self._pilot_key(cand))
            if metrics is None:
                return
            self._apply_pilot(cand, metrics)
        while cand.error is None and (nodes := cand.search.next()) is not None:
            metrics = self.known.get(self.task_key(cand, nodes))
            if metrics is None:
                return
            self._feed(cand, nodes, metrics)

    def _finish(self, key: tuple[str, int]) -> PlanRow | None:
        """The row, if all its searches are done."""
        if self.profiled:
            return self._finish_profile(key)
        started = self._new_row(key)
        if started is None:
            return None
        cands, row, notes = started
        errors = [c for c in cands if c.error is not None]
        ok = [c for c in cands if c.error is None and c.search.nodes is not None]
        if ok:
            order = {id(c): i for i, c in enumerate(cands)}
            best = min(ok, key=lambda c: (c.results[c.search.nodes]["metrics"].get("cost.per_hour", math.inf),
                                          c.search.nodes, order[id(c)]))
        else:
            best = next((c for c in cands if c.error is None), None)
        if best is None:
            row.error = errors[0].error
            row.binding = "error"
            notes.append(f"error: {row.error}")
        else:
            row.setting = dict(best.setting)
            row.tried = dict(best.search.passed)
            if best.search.nodes is not None:
                row.nodes = best.search.nodes
                below = best.search.low
                if below == 0:
                    row.binding = "none (1 node is the minimum)"
                else:
                    row.binding = ", ".join(best.results[below]["failed"])
                shown = row.nodes
            else:
                shown = best.search.low
                failed = best.results[shown]["failed"] if shown in best.results else []
                row.binding = f"{', '.join(failed)} (still at {shown} nodes)"
            row.metrics = dict(best.results[shown]["metrics"])
            config = validate_config(best.data_at(shown), self.source).to_dict()
            config.pop("sweep", None)
            row.config = config
            if errors:
                notes.append(f"{len(errors)} setting(s) failed to run: {errors[0].error}")
        row.notes = notes
        self.rows[key] = row
        return row

    # -- running ------------------------------------------------------------

    def run(
        self,
        workers: int = 1,
        scheduler: Any = None,
        on_run: Callable[[str, dict[str, float]], None] | None = None,
        on_row: Callable[[PlanRow], None] | None = None,
        on_round: Callable[[list[str]], None] | None = None,
    ) -> list[PlanRow]:
        """Simulate until every row is answered; rows in the order planned.

        ``on_run(task_key, metrics)`` after each simulation, ``on_row(row)`` as
        each row is answered, ``on_round(labels)`` before each round (what runs).
        """

        for key in self.pending_rows():
            for cand in self.candidates[key]:
                self._advance(cand)
            row = self._finish(key)
            if row is not None and on_row is not None:
                on_row(row)
        while True:
            todo: dict[str, list[tuple[tuple[str, int], Candidate | None, int]]] = {}
            tasks: list[Task] = []
            labels: list[str] = []
            for key in self.pending_rows():
                for cand in self.candidates[key]:
                    if cand.error is None and cand.pilot is not None:
                        tkey = self._pilot_key(cand)
                        if tkey not in todo:
                            tasks.append(Task(cand.pilot, self.source, tkey, 0, self.seed, cost=cand.pilot_cost))
                            labels.append(f"{key[0]} {key[1]:,} pilot ({cand.pilot_clients:,}@{cand.pilot_nodes})")
                        todo.setdefault(tkey, []).append((key, cand, PILOT))
                        continue
                    nodes = cand.search.next() if cand.error is None else None
                    if nodes is None:
                        continue
                    tkey = self.task_key(cand, nodes)
                    if tkey not in todo:
                        # the size whose metrics an infeasible row shows always runs to its end
                        ceilings = self.ceilings if nodes < self.max_nodes else ()
                        tasks.append(PlanTask(cand.data_at(nodes), self.source, tkey, 0, self.seed, cost=cand.cost,
                                              ceilings=ceilings))
                        labels.append(f"{key[0]} {key[1]:,}@{nodes}")
                    todo.setdefault(tkey, []).append((key, cand, nodes))
                verification = self._verification(key) if self.profiled else None
                if verification is not None and verification[1] not in self.known:
                    vdata, vkey = verification
                    if vkey not in todo:
                        cost = self.candidates[key][0].cost
                        tasks.append(Task(vdata, self.source, vkey, 0, self.seed, cost=cost))
                        labels.append(f"{key[0]} {key[1]:,} over the profile")
                    todo.setdefault(vkey, []).append((key, None, 0))
            if not tasks:
                break
            if on_round is not None:
                on_round(labels)

            costs = {task.point: task.cost for task in tasks}

            def emit(record: dict[str, Any], todo: dict = todo, costs: dict = costs) -> None:
                tkey = record["point"]
                self.work_done += costs.get(tkey, 0.0) if tkey in todo else 0.0
                if record.get("status") == "ok":
                    self.known[tkey] = record["metrics"]
                    if on_run is not None:
                        on_run(tkey, record["metrics"])
                touched = []
                for key, cand, nodes in todo.pop(tkey, []):
                    if cand is None:  # the run over a profile
                        if record.get("status") != "ok":
                            self.verify_errors[key] = str(record.get("error", "the run failed")).splitlines()[0]
                    elif nodes == PILOT:  # a failed pilot only costs the guess: search from the floor
                        self._apply_pilot(cand, record["metrics"] if record.get("status") == "ok" else None)
                        self._advance(cand)
                    elif record.get("status") == "ok":
                        self._feed(cand, nodes, record["metrics"])
                        self._advance(cand)
                    else:
                        cand.error = str(record.get("error", "the run failed")).splitlines()[0]
                    touched.append(key)
                for key in dict.fromkeys(touched):
                    row = self._finish(key) if key not in self.rows else None
                    if row is not None and on_row is not None:
                        on_row(row)

            execute(tasks, min(workers, len(tasks)), scheduler, emit)
        return [self.rows[key] for key in self.row_keys()]

    # -- identity (for --resume) -----------------------------------------------

    def fingerprint(self) -> dict[str, str]:
        """What a resumed plan must share, each part hashed: config, SLOs and search settings."""

        config = copy.deepcopy(self.data)
        for key in ("name", "description"):
            config.get("experiment", {}).pop(key, None)
        parts = {
            "config": config,
            "--slo": [[s.metric, s.op, s.value] for s in self.slos],
            "--tune": self.tune,
            "--allow-loss": self.allow_loss,
            "--max-nodes": self.max_nodes,
        }
        return {name: hashlib.sha256(canonical(value).encode()).hexdigest()[:16] for name, value in parts.items()}


def plan(
    config: ExperimentConfig | dict[str, Any] | str | Path | None,
    clients: list[int],
    slos: list[Slo],
    mechanisms: list[str] | None = None,
    max_nodes: int = 64,
    workers: int = 1,
    tune: dict[str, list[Any]] | list[str] | None = None,
    allow_loss: bool = False,
    scheduler: Any = None,
) -> list[PlanRow]:
    """Plan every (mechanism, client count) pair; rows in the order given.

    ``config`` is a loaded config (its mechanism's parameters only), raw TOML
    data or a path (every mechanism's parameters it holds are kept).
    """
    if isinstance(config, ExperimentConfig):
        data = config.to_dict()
        data.pop("sweep", None)
    elif isinstance(config, dict):
        data = copy.deepcopy(config)
        data.pop("sweep", None)
    else:
        data = plan_data(config)
    kinds = mechanisms or [(data.get("mechanism") or {}).get("kind", DEFAULT_KIND)]
    planner = Planner(data, list(clients), list(slos), list(kinds), max_nodes, parse_tune(tune), allow_loss)
    return planner.run(workers, scheduler)


def load_plan_config(path: str, overrides: list[str]) -> ExperimentConfig:
    """The base config of a plan (``--set`` applied)."""
    return load_config(path, overrides)
