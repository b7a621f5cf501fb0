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

The SLOs are :mod:`simulator.workflow.slo`, the search :mod:`simulator.workflow.search`,
the rows :mod:`simulator.workflow.plan_rows` and the result folder
:mod:`simulator.workflow.plan_store`; this module holds the planner: every row of a
plan, its node searches and the runs they need.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
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
from simulator.engine.estimate import check_fits
from simulator.engine.profile import LoadProfile
from simulator.workflow.grid import Task, canonical, parse_set
from simulator.workflow.plan_rows import PlanRow
from simulator.workflow.plan_store import PlanStore, sim_plan_invocation
from simulator.workflow.search import (
    PILOT,
    PILOT_MIN_CLIENTS,
    PILOT_SCALE,
    STOPPED_AT,
    NodeSearch,
    PlanTask,
    execute,
    pilot_size,
)
from simulator.workflow.slo import (
    METRIC_SET,
    Slo,
    ceilings_of,
    default_policy,
    failures,
    node_floor,
    parse_slo,
    pilot_guess,
)

# ---------------------------------------------------------------------------
# Candidates: one node search per (mechanism, clients, --tune setting)


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
        """The candidate's config data on ``nodes`` nodes."""
        data = copy.deepcopy(self.data)
        set_dotted(data, "server.nodes", nodes)
        return data

    @property
    def pilot_cost(self) -> float:
        """The wall-time proxy of its pilot run."""
        return self.cost * self.pilot_clients / max(1, int(self.data["clients"]["count"]))



def _binding(cand: Candidate) -> str:
    """What failed at one node fewer than ``cand``'s answer."""
    below = cand.search.low
    return "none (1 node is the minimum)" if below == 0 else ", ".join(cand.results[below]["failed"])


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
        """The task key of ``cand`` on ``nodes`` nodes (identical key: identical run)."""

        return Task(cand.data_at(nodes), self.source, "", 0, self.seed).key()

    def row_keys(self) -> list[tuple[str, int]]:
        """Every row's key, in the plan's order (mechanisms, then client counts)."""
        return [(kind, n) for kind in self.mechanisms for n in self.clients]

    def pending_rows(self) -> list[tuple[str, int]]:
        """The rows not answered yet."""
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
                row.binding = _binding(best)
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
    slos: list[Slo | str],
    mechanisms: list[str] | None = None,
    max_nodes: int = 64,
    workers: int = 1,
    tune: dict[str, list[Any]] | list[str] | None = None,
    allow_loss: bool = False,
    scheduler: Any = None,
    out: str | Path | None = None,
    resume: bool = False,
    overrides: list[str] | tuple[str, ...] = (),
) -> list[PlanRow]:
    """Plan every (mechanism, client count) pair; rows in the order given.

    ``config`` is a loaded config (its mechanism's parameters only), raw TOML
    data or a path (every mechanism's parameters it holds are kept; ``overrides``
    are ``--set`` items applied to it).  ``slos`` are :class:`Slo` or text as
    ``sim plan --slo`` takes it (``'latency.p99<=2s'``).  With ``out`` every
    answered row is written at once to that folder, as ``sim plan --out`` writes
    it (:class:`~simulator.workflow.plan_store.PlanStore`); ``resume=True``
    continues the plan in it, reusing its rows and runs.
    """
    if resume and out is None:
        raise ConfigError("error: resume=True needs out=DIR (the plan folder to continue)")
    if overrides and isinstance(config, (ExperimentConfig, dict)):
        raise ConfigError("error: overrides: only with a config path (set them on a loaded config instead)")
    parsed = [parse_slo(s, METRIC_SET) if isinstance(s, str) else s for s in slos]
    source = "<plan>"
    if isinstance(config, ExperimentConfig):
        data = config.to_dict()
        data.pop("sweep", None)
    elif isinstance(config, dict):
        data = copy.deepcopy(config)
        data.pop("sweep", None)
    else:
        data = plan_data(config, overrides)
        source = str(config) if config is not None else source
    kinds = mechanisms or [(data.get("mechanism") or {}).get("kind", DEFAULT_KIND)]
    tuned = parse_tune(tune)
    planner = Planner(data, list(clients), parsed, list(kinds), max_nodes, tuned, allow_loss, source=source)
    store = None
    if out is not None:
        store = PlanStore(Path(out), planner, _python_invocation(config, clients, slos, mechanisms, tuned,
                                                                 allow_loss, overrides, max_nodes, out), resume)
    try:
        rows = planner.run(workers, scheduler, store.on_run if store else None, store.on_row if store else None)
    except KeyboardInterrupt:
        if store is not None:
            store.write(status="interrupted")
        raise
    if store is not None:
        store.write(status="complete")
    return rows


def _python_invocation(config: Any, clients: list[int], slos: list[Slo | str], mechanisms: list[str] | None,
                       tune: dict[str, list[Any]], allow_loss: bool, overrides: list[str] | tuple[str, ...],
                       max_nodes: int, out: str | Path) -> dict[str, Any]:
    """The manifest's invocation of a plan made from Python: its ``sim plan`` command when the
    config is a file (the same folder either way), else the Python call."""
    texts = [s if isinstance(s, str) else f"{s.metric}{s.op}{s.value!r}" for s in slos]
    if isinstance(config, (str, Path)):
        tunes = [f"{key}={','.join(str(v) for v in values)}" for key, values in tune.items()]
        return sim_plan_invocation(config, ",".join(str(n) for n in clients), texts,
                                   ",".join(mechanisms) if mechanisms else None, tunes, allow_loss, overrides,
                                   max_nodes, out)
    call = (f"simulator.plan(<{type(config).__name__}>, clients={list(clients)!r}, slos={texts!r},"
            f" mechanisms={mechanisms!r}, max_nodes={max_nodes}, tune={tune!r}, allow_loss={allow_loss},"
            f" out={str(out)!r}")
    return {"command": call + ")", "resume_command": call + ", resume=True)"}


def load_plan_config(path: str, overrides: list[str]) -> ExperimentConfig:
    """The base config of a plan (``--set`` applied)."""
    return load_config(path, overrides)
