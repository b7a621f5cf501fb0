"""Parameter sweeps: a grid of points, each run for several replications.

A *point* is one combination of the grid's axis values (``{"clients.count":
1000, "mechanism.kind": "sse"}``); a *run* is one replication of one point
with its own seed.  :func:`make_plan` expands the grid and validates every
point's config up front (bad input fails before any run starts, exit 2);
:mod:`simulator.workflow.sweep` runs the plan's tasks in-process, on a process
pool or on a Dask cluster; :mod:`simulator.workflow.store` records each finished
run atomically and derives ``runs.csv``, ``summary.csv`` and the manifest.

Seeds (see :func:`replication_seed`): replication ``r`` of a point runs with
``SeedSequence([experiment.seed, *sha256(the point's resolved [clients] and
[workload]), r])``.  So

- a point's results never depend on which other points run, in what order,
  or whether a value came from an axis or an override: the seed is a function
  of the point's resolved config alone;
- points that differ only in the system under test (``mechanism.*``,
  ``server.*``, ``network.*``, ``http.*``, ``cluster.*``, ``cost.*``,
  ``failures.*``, durations) share their random numbers replication by
  replication (*common random numbers*): every mechanism at 1,000 clients is
  owed the same notifications at the same instants in replication 0, so the
  differences between mechanisms are differences between mechanisms, not
  between draws, and their comparison needs fewer replications.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator import config as config_module
from simulator.config import (
    DEFAULT_KIND,
    ConfigError,
    ExperimentConfig,
    SweepSection,
    parse_override_value,
    read_toml,
    registry,
    set_dotted,
    validate_config,
)
from simulator.config.load import check_sweep_size, set_aside_other_kinds
from simulator.engine.runner import run

#: Sections of the resolved config that define who is owed what when: they alone vary the seed.
SEED_SECTIONS = ("clients", "workload")


# ---------------------------------------------------------------------------
# Axes and grid


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` on the commas that are not inside quotes, ``{}`` or ``[]``."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_set(item: str) -> tuple[str, list[Any]]:
    """``"key=v1,v2"`` -> ``("key", [v1, v2])``; each value parsed as TOML (else a string)."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"error: --set {item!r}: expected KEY=VALUE or KEY=V1,V2,..., e.g. clients.count=100,1000")
    values = [parse_override_value(v) for v in split_values(value.strip())]
    if any(v == "" for v in values):
        raise ConfigError(f"error: --set {item!r}: empty value in the list")
    return key, values


def merge_axes(
    grid: dict[str, list[Any]], extra: dict[str, Any] | list[str] | None
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Apply ``--set`` items (or an API mapping) to the config's grid.

    A key with several values adds an axis, or replaces the axis of that key in
    place (keeping the axis order); a single value is a plain override and
    removes that key's axis.  In a mapping (the Python API) a list is always
    an axis, even of one value, and a scalar an override.  Returns
    ``(grid, overrides)``.
    """
    grid = {k: list(v) for k, v in grid.items()}
    overrides: dict[str, Any] = {}
    if isinstance(extra, dict):  # Python API: a list is an axis (even of one value)
        items = [(k, list(v), True) if isinstance(v, list | tuple) else (k, [v], False) for k, v in extra.items()]
    else:
        items = [(*parse_set(item), False) for item in extra or []]
    for key, values, is_axis in items:
        if is_axis or len(values) > 1:
            grid[key] = values
            overrides.pop(key, None)
        else:
            grid.pop(key, None)
            overrides[key] = values[0]
    return grid, overrides


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes, first axis slowest (one dict per point)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def canonical(values: dict[str, Any]) -> str:
    """A stable text of a point's values: sorted keys, JSON values (order-independent)."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def point_id(values: dict[str, Any]) -> str:
    """A short stable id of a point, the same whatever the grid's order or other points."""
    return hashlib.sha256(canonical(values).encode("utf-8")).hexdigest()[:10]


def replication_seed(base_seed: int, workload: dict[str, Any], replication: int) -> int:
    """The seed (a uint32) of replication ``replication`` of a point whose resolved
    :data:`SEED_SECTIONS` are ``workload`` (``{"clients": {...}, "workload": {...}}``).

    See the module docstring for why only these sections enter.
    """
    digest = hashlib.sha256(canonical(workload).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    sequence = np.random.SeedSequence([int(base_seed), *words, int(replication)])
    return int(sequence.generate_state(1)[0])


def workload_of(config: ExperimentConfig) -> dict[str, Any]:
    """The resolved sections that enter the seed."""
    resolved = config.to_dict()
    return {section: resolved[section] for section in SEED_SECTIONS}


# ---------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class Task:
    """One run to do: picklable, self-contained (for process pools and Dask workers)."""

    data: dict[str, Any]  # the point's raw config data (base + overrides + point values)
    source: str
    point: str
    replication: int
    seed: int
    cost: float = 0.0  # a proxy of the run's wall time (clients x simulated seconds), for scheduling

    def key(self) -> str:
        """Identical key => identical run (same resolved data, same seed)."""
        return hashlib.sha256(f"{canonical(self.data)}|{self.seed}".encode()).hexdigest()

    def config(self) -> ExperimentConfig:
        """The task's config, validated, with its seed set."""
        data = copy.deepcopy(self.data)
        set_dotted(data, "experiment.seed", self.seed)
        return validate_config(data, self.source)


@dataclass
class Point:
    """One point of a sweep grid: its id, swept values, config and config data."""
    id: str
    values: dict[str, Any]
    config: ExperimentConfig = field(repr=False)
    data: dict[str, Any] = field(repr=False)


@dataclass
class Plan:
    """An expanded, validated sweep: the points, replications and everything to run them."""

    source: str
    data: dict[str, Any]  # the config as given (overrides applied), without [sweep]
    grid: dict[str, list[Any]]
    replications: int
    points: list[Point]

    @property
    def experiment(self) -> Any:
        """The ``[experiment]`` section (name, description, seed) of the sweep."""
        return self.points[0].config.experiment

    def seeds(self, point: Point) -> list[int]:
        """The replication seeds of a point (common random numbers across mechanisms)."""
        base, workload = point.config.experiment.seed, workload_of(point.config)
        return [replication_seed(base, workload, r) for r in range(self.replications)]

    def tasks(self) -> list[Task]:
        """Every run of the plan, grid order then replication."""
        out = []
        for point in self.points:
            e = point.config.experiment
            cost = point.config.clients.count * (e.duration + e.warmup)
            for r, seed in enumerate(self.seeds(point)):
                out.append(Task(point.data, self.source, point.id, r, seed, cost))
        return out

    def fingerprint(self) -> str:
        """A hash of the config without ``[sweep]`` and descriptions: what --resume must match."""
        data = copy.deepcopy(self.data)
        for key in ("name", "description"):
            data.get("experiment", {}).pop(key, None)
        return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()[:16]

    def sweep_config(self) -> dict[str, Any]:
        """The config with the effective grid and replications: ``sim sweep`` re-runs it as is."""
        return {**copy.deepcopy(self.data), "sweep": {"replications": self.replications, "grid": self.grid}}


def make_plan(
    config: str | Path | ExperimentConfig | dict[str, Any] | None,
    grid: dict[str, Any] | list[str] | None = None,
    replications: int | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    skip_unknown_kinds: bool = False,
) -> Plan:
    """Expand and validate a sweep.

    ``config`` is a TOML path, a loaded :class:`ExperimentConfig`, raw TOML data
    or ``None`` (defaults).  ``grid`` adds or replaces axes: ``--set`` strings
    (one value is an override) or ``{key: [values]}`` (a scalar is an
    override).  ``skip_unknown_kinds`` drops ``mechanism.kind`` values that
    are not registered, with a warning (the README figures use it).

    When ``mechanism.kind`` is an axis, ``[mechanism]`` may hold the parameters
    of several kinds (``interval`` for short polling, ``hold`` for long
    polling...): each point keeps those its kind has (see
    :func:`_check_mechanism_keys` for what is still a typo).

    Every point's config is validated here: a bad key or value raises
    :class:`ConfigError` naming the point, before anything runs.
    """
    if isinstance(config, ExperimentConfig):
        data, source = config.to_dict(), "<config>"
    elif isinstance(config, dict):
        data, source = copy.deepcopy(config), "<config>"
    elif config is None:
        data, source = {}, "<defaults>"
    else:
        data, source = read_toml(config), str(config)
    file_kind = (data.get("mechanism") or {}).get("kind", DEFAULT_KIND)
    file_sweep = data.pop("sweep", {})
    sweep_section = _validate_sweep(file_sweep, source)
    single = dict(overrides) if isinstance(overrides, dict) else merge_axes({}, [f"{o}" for o in overrides or []])[1]
    axes, more = merge_axes(sweep_section.grid, grid)
    for key, value in {**single, **more}.items():
        set_dotted(data, key, value)
    skipped = False
    if skip_unknown_kinds and "mechanism.kind" in axes:
        kept = _registered_only(axes["mechanism.kind"])
        skipped = len(kept) < len(axes["mechanism.kind"])
        axes["mechanism.kind"] = kept
    for key, values in axes.items():
        _check_key(key, source)
        if not values:
            raise ConfigError(f"error: {source}: sweep.grid.{key}: the axis has no values")
    n = replications if replications is not None else sweep_section.replications
    if n < 1:
        raise ConfigError(f"error: {source}: sweep.replications: must be >= 1, got {n}")
    check_sweep_size(axes, n, source)
    # When a point's kind is not the file's (an axis or an override), the file's
    # parameters of other kinds are set aside rather than refused.
    kinds = axes.get("mechanism.kind")
    if kinds is None and (data.get("mechanism") or {}).get("kind", file_kind) != file_kind:
        kinds = [data["mechanism"]["kind"]]
    if kinds is not None and not skipped:  # a skipped kind's keys are not typos
        _check_mechanism_keys(data, axes, kinds, source)
    points = []
    for values in expand_grid(axes):
        point_data = copy.deepcopy(data)
        for key, value in values.items():
            set_dotted(point_data, key, value)
        if kinds is not None:
            _fit_mechanism(point_data)
        try:
            config_obj = validate_config(copy.deepcopy(point_data), source)
        except ConfigError as exc:
            where = ", ".join(f"{k}={v}" for k, v in values.items())
            raise ConfigError([f"{line} (at the sweep point {where})" if where else line
                               for line in exc.lines]) from None
        points.append(Point(point_id(values), values, config_obj, point_data))
    _warn_unserved(points)
    return Plan(source, data, axes, n, points)


def _warn_unserved(points: list[Point]) -> None:
    """Say when a swept mechanism cannot serve the clients (a webhook for phones): its rows describe nobody."""
    import warnings

    counts: dict[str, int] = {}
    for point in points:
        if point.config.clients.kind == "browser":
            continue  # the default: a config that does not say who its clients are is not second-guessed
        note = registry.client_kind_note(point.config.mechanism.kind, point.config.clients.kind)
        if note:
            counts[note] = counts.get(note, 0) + 1
    for note, n in counts.items():
        warnings.warn(f"not applicable: {note}; its {n} point(s) are run but describe clients it would not have",
                      stacklevel=3)


def _validate_sweep(raw: Any, source: str):
    from pydantic import ValidationError


    try:
        return SweepSection.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"error: {source}: sweep.{where}: {first['msg']}") from None


def _check_key(key: str, source: str) -> None:
    """An axis must name a config key: a typo is an error with a suggestion, never a no-op."""

    if key.split(".")[0] == "sweep":
        raise ConfigError(f"error: {source}: {key}: the sweep section cannot be swept")
    check = getattr(config_module, "validate_dotted_key", None)
    if check is not None:  # otherwise every point's validation still catches it
        check(key, source=source)


def _registered_only(kinds: list[Any]) -> list[Any]:
    import warnings


    known = registry.kinds()
    missing = [k for k in kinds if k not in known]
    if missing:
        warnings.warn(f"skipping mechanisms not registered yet: {', '.join(map(str, missing))}", stacklevel=3)
    return [k for k in kinds if k in known]


def _kind_fields(kind: Any) -> set[str] | None:

    try:
        return set(registry.get(kind).Params.model_fields)
    except (KeyError, TypeError):
        return None  # unknown kind: validate_config reports it with a suggestion


def _check_mechanism_keys(data: dict[str, Any], axes: dict[str, list[Any]], kinds: list[Any], source: str) -> None:
    """No typos among the mechanism parameters when the kind is swept.

    A ``[mechanism]`` key must belong to some registered kind (the file may
    carry the parameters of kinds it does not sweep, e.g. the quickstart's
    ``interval`` in a sweep of push mechanisms); a swept ``mechanism.X`` axis
    must belong to a swept kind, or every point would ignore it.
    """
    import difflib


    swept: set[str] = set()
    for kind in kinds:
        swept |= _kind_fields(kind) or set()
    every = set(swept)
    for kind in registry.kinds():
        every |= _kind_fields(kind) or set()
    given = [(k, every, "registered") for k in (data.get("mechanism") or {}) if k not in ("kind", "backoff")]
    given += [(k.split(".")[1], swept, "swept") for k in axes
              if k.startswith("mechanism.") and k.count(".") == 1 and k != "mechanism.kind"]
    for key, known, which in given:
        if key not in known:
            match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            kinds_text = ", ".join(map(str, kinds)) if which == "swept" else "any mechanism"
            raise ConfigError(f"error: {source}: mechanism.{key}: not a parameter of {kinds_text}{hint}")


def _fit_mechanism(point_data: dict[str, Any]) -> None:
    """Set aside the ``[mechanism]`` parameters of other kinds than the point's."""

    mech = point_data.get("mechanism") or {}
    set_aside_other_kinds(mech, mech.get("kind", DEFAULT_KIND) if isinstance(mech, dict) else None)


# ---------------------------------------------------------------------------
# One run (in whatever process the executor chose)


def run_task(task: Task) -> dict[str, Any]:
    """Run one task; never raises: a failure is returned as a record with its error."""

    started = time.perf_counter()
    # The task key (config and seed) lets --resume prove a record belongs to its plan.
    record: dict[str, Any] = {"point": task.point, "replication": task.replication, "seed": task.seed,
                              "key": task.key()}
    try:
        result = run(task.config())
    except Exception as exc:  # recorded, and the sweep goes on
        record.update(
            status="error",
            error=f"{type(exc).__name__}: {exc}".strip(),
            traceback=traceback.format_exc(limit=8),
            wall_seconds=time.perf_counter() - started,
        )
        return record
    record.update(
        status="ok",
        metrics=result.metrics,
        wall_seconds=time.perf_counter() - started,
        events=result.run.get("events_processed", 0),
    )
    return record
