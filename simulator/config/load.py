"""Loading a config: TOML, ``--set`` overrides, validation, checks across keys.

Every problem is collected as ``(key path, message)`` and reported together,
one line each, as ``error: FILE: key.path: message`` (``--set`` instead of the
file when the key came from an override), so a user fixes a config in one
round instead of one error per run.  Beyond types and ranges, it refuses what
nobody could mean (a failure after the run ends, more sample windows than the
machine can hold) and what is not built yet (a mechanism kind not registered,
a ``receiver_outage`` for a mechanism without receivers), rather than run
without it.
"""

from __future__ import annotations

import copy
import math
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.config import registry
from simulator.config.files import read_text_file
from simulator.config.keys import (
    ConfigError,
    Problem,
    closest,
    dotted_keys,
    error_message,
    hint,
    loc_path,
    resolve_key,
    set_dotted,
    submodel,
)
from simulator.config.profile import profile_problems, resolve_trace
from simulator.config.sections import DEFAULT_KIND, FAILURE_KEYS, OPERATION_KEYS, ExperimentConfig
from simulator.config.units import format_duration, format_size

#: Largest config file read: configs are a few KiB; this keeps `sim run /dev/zero` from
#: reading until memory runs out.
MAX_CONFIG_BYTES = 2**20
#: Deepest nesting of arrays/tables accepted (a real config uses 5: sweep.grid axis of tables).
MAX_NESTING = 20
#: Largest sweep accepted (points, and points x replications): the plan is built up front.
MAX_SWEEP_POINTS = 10_000
MAX_SWEEP_RUNS = 100_000
#: Bounds on the per-window series (one float per window, per node for CPU).
MAX_WINDOWS = 1_000_000
MAX_NODE_WINDOWS = 20_000_000


# ---------------------------------------------------------------------------
# Reading and overriding


def nesting_problem(data: Any, limit: int = MAX_NESTING) -> str | None:
    """The key path of a value nested deeper than ``limit`` arrays/tables, or None.

    Iterative, so the check itself cannot overflow the stack the way a recursive
    walk (deepcopy, pydantic, repr) of a 1,000-level value does.
    """
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            children = [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(node)]
        else:
            continue
        if depth >= limit:
            return path or "(top)"
        stack.extend((child, depth + 1, where) for child, where in children)
    return None


def _nesting_error(where: str, path: str) -> ConfigError:
    return ConfigError(f"error: {where}: {path}: nested more than {MAX_NESTING} levels of arrays or tables")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line ConfigError."""
    p = Path(path)
    text = read_text_file(p, "config file", MAX_CONFIG_BYTES)
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per level: a deep document overflows the stack
        raise ConfigError(f"error: {p}: nested more than {MAX_NESTING} levels of arrays or tables") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        at = re.search(r"\s*\(at line (\d+), column (\d+)\)", msg)
        if at:
            where = f"line {at.group(1)}, column {at.group(2)}"
            msg = msg[: at.start()] + msg[at.end() :]
        else:
            where = "end of file" if "end of document" in msg else "?"
            msg = re.sub(r"\s*\(at end of document\)", "", msg)
        raise ConfigError(f"error: {p}: {where}: invalid TOML: {msg}") from None
    deep = nesting_problem(data)
    if deep is not None:
        raise _nesting_error(str(p), deep)
    return data


def parse_override_value(text: str, key: str | None = None) -> Any:
    """A ``--set`` value: a TOML value if it parses as one, else the bare string."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except RecursionError:
        value = None
    except tomllib.TOMLDecodeError:
        return text
    if value is None or nesting_problem(value) is not None:
        shown = repr(text) if len(text) <= 40 else repr(text[:37] + "...")
        raise _nesting_error("--set", key or shown)
    return value


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    ``path`` is a TOML file (``None``: all defaults).  ``overrides`` are
    ``"dotted.key=value"`` strings as given to ``--set`` (values parsed as TOML,
    falling back to a bare string) or a mapping of dotted keys to values.
    Raises :class:`ConfigError` on any bad input.
    """
    source = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    file_kind = data.get("mechanism", {}).get("kind", DEFAULT_KIND) if isinstance(data.get("mechanism"), dict) else None
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"error: --set {item!r}: expected KEY=VALUE, e.g. network.latency=80ms")
            items.append((key.strip(), parse_override_value(value.strip(), key.strip())))
    for key, value in items:
        if key.split(".")[0] != "mechanism":  # mechanism keys are checked against the kind
            validate_dotted_key(key)
        try:
            set_dotted(data, key, value)
        except ValueError as exc:
            raise ConfigError(f"error: --set: {exc}") from None
    notes = []
    mechanism = data.get("mechanism")
    if isinstance(mechanism, dict) and mechanism.get("kind", DEFAULT_KIND) != file_kind:
        # the file's settings of its own kind do not apply to the kind --set chose
        given = {k.split(".")[1] for k, _ in items if k.startswith("mechanism.")}
        notes = set_aside_other_kinds(mechanism, mechanism.get("kind", DEFAULT_KIND), given)
    config = validate_config(data, source, [k for k, _ in items])
    trace_problems = resolve_trace(config.profile, path)
    if trace_problems:
        raise ConfigError(render(trace_problems, source, [k for k, _ in items]))
    notes += startup_notes(config)
    for note in notes:
        print(f"note: {source}: {note}", file=sys.stderr)
    return config


def startup_notes(config: ExperimentConfig) -> list[str]:
    """What a user should know about the measured window before trusting its numbers."""
    e, c = config.experiment, config.clients
    if c.connect_over <= e.warmup:
        return []
    return [
        f"clients.connect_over ({format_duration(c.connect_over)}) is longer than experiment.warmup"
        f" ({format_duration(e.warmup)}): clients still connecting when the window opens are owed what"
        " is published before they connect (SSE/WebSocket count it lost, polls deliver it late);"
        " set warmup >= connect_over to measure the steady state"
    ]


def validate_config(
    data: dict[str, Any], source: str = "<config>", override_keys: list[str] | tuple = ()
) -> ExperimentConfig:
    """Validate raw TOML data into an :class:`ExperimentConfig` (or raise ConfigError)."""
    config, problems = check(data)
    if problems:
        raise ConfigError(render(problems, source, override_keys))
    assert config is not None
    return config


def render(problems: list[Problem], source: str, override_keys: list[str] | tuple = ()) -> list[str]:
    """``error: SOURCE: path: message`` lines; keys that came from ``--set`` say so."""

    def origin(path: str) -> str:
        plain = path.replace('"', "")
        for key in override_keys:
            if plain == key or plain.startswith(key + ".") or key.startswith(plain + "."):
                return "--set"
        return source

    return [f"error: {origin(path)}: {path}: {msg}" for path, msg in problems]


# ---------------------------------------------------------------------------
# Validation


def check(data: Any) -> tuple[ExperimentConfig | None, list[Problem]]:
    """The config and every problem found in raw data (the config is None if any)."""
    if not isinstance(data, dict):
        return None, [("(top)", "a config is a TOML table of sections")]
    deep = nesting_problem(data)
    if deep is not None:  # data from the Python API: the walks below would overflow the stack
        return None, [(deep, f"nested more than {MAX_NESTING} levels of arrays or tables")]
    problems: list[Problem] = []
    config = None
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, ExperimentConfig, ())
    params = None
    mech = data.get("mechanism", {})
    if isinstance(mech, dict) and isinstance(mech.get("kind", DEFAULT_KIND), str):
        kind = mech.get("kind", DEFAULT_KIND)
        why = kind_problem(kind)
        if why:
            problems.append(("mechanism.kind", why))
        else:
            model = registry.get(kind).Params
            extra = {k: v for k, v in mech.items() if k not in ("kind", "backoff")}
            extra = _without_other_swept_kinds(extra, kind, model, data)
            try:
                params = model.model_validate(extra)
            except ValidationError as exc:
                problems += _pydantic_problems(exc, model, ("mechanism",), kind)
    if problems or config is None:
        return None, problems
    config.mechanism.params = params
    if config.mechanism.model_extra:
        config.mechanism.model_extra.clear()
    problems += _cross_checks(config) + _sweep_checks(config, data)
    return (None if problems else config), problems


def _without_other_swept_kinds(
    extra: dict[str, Any], kind: str, model: type[BaseModel], data: dict[str, Any]
) -> dict[str, Any]:
    """``extra`` without the parameters of other kinds, when the sweep grid compares kinds.

    A config comparing mechanisms (``[sweep.grid] "mechanism.kind" = [...]``) holds the
    parameters of several kinds; ``sim run`` on it runs ``mechanism.kind`` with its
    own keys, as each sweep point does (:func:`set_aside_other_kinds`).
    """
    grid = (data.get("sweep") or {}).get("grid") if isinstance(data.get("sweep"), dict) else None
    if not isinstance(grid, dict) or not isinstance(grid.get("mechanism.kind"), list):
        return extra
    extra = dict(extra)
    set_aside_other_kinds(extra, kind)
    return extra


def set_aside_other_kinds(mechanism: dict[str, Any], kind: Any, keep: Iterable[str] = ()) -> list[str]:
    """Remove, in place, the ``[mechanism]`` parameters of other kinds; notes saying which.

    A config written for one kind and run as another (``--set mechanism.kind=sse``
    on a short-polling file, each point of a sweep over kinds) keeps what applies
    to ``kind`` and sets aside what applies only to other kinds (``interval`` for
    SSE).  Keys in ``keep`` (given on purpose, by ``--set``) and keys of no kind at
    all stay, for validation to refuse with a suggestion.
    """
    if not isinstance(mechanism, dict) or not isinstance(kind, str) or kind_problem(kind) is not None:
        return []  # an unknown kind is reported by validation
    own = set(registry.get(kind).Params.model_fields)
    by_owners: dict[str, list[str]] = {}
    for key in list(mechanism):
        if key in ("kind", "backoff") or key in own or key in keep:
            continue
        owners = [k for k in registry.kinds() if key in registry.get(k).Params.model_fields]
        if owners:
            del mechanism[key]
            by_owners.setdefault(" and ".join(owners), []).append(f"mechanism.{key}")
    return [f"ignored: {' and '.join(keys)} appl{'y' if len(keys) > 1 else 'ies'} to {owners}, not {kind}"
            for owners, keys in by_owners.items()]


def kind_problem(kind: str) -> str | None:
    """Why ``mechanism.kind = kind`` cannot run (None if it can)."""
    kinds = registry.kinds()
    if kind in kinds:
        return None
    return f"unknown mechanism {kind!r} (choose from {', '.join(kinds)}){hint(kind, kinds)}"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        current = submodel(field.annotation) if field is not None else None
        if current is None:
            return None
    return [n for n, f in current.model_fields.items() if not f.exclude]


def _pydantic_problems(
    exc: ValidationError, model: type[BaseModel], prefix: tuple, kind: str | None = None
) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = loc_path(loc, prefix)
        if err["type"] != "extra_forbidden":
            problems.append((path, error_message(err)))
            continue
        key = str(loc[-1])
        local = _fields_at(model, loc[:-1]) or []
        if prefix == ("mechanism",) and len(loc) == 1:
            local += ["kind", "backoff"]
            owners = [k for k in registry.kinds() if k != kind and key in registry.get(k).Params.model_fields]
            if owners:
                problems.append((path, f"unknown key for mechanism.kind = {kind!r} (a {owners[0]} key)"))
                continue
        suggestion = closest(key, local)
        if suggestion is None:
            # the right key in the wrong section: [clients] rate -> workload.rate
            elsewhere = [k for k in all_keys() if k.rsplit(".", 1)[-1] == key]
            suggestion = elsewhere[0] if elsewhere else None
        problems.append((path, "unknown key" + (f"; did you mean {suggestion!r}?" if suggestion else "")))
    return problems


def _cross_checks(config: ExperimentConfig) -> list[Problem]:
    problems: list[Problem] = []
    kind = config.mechanism.kind
    supported = registry.mechanism_of(config).features
    run_end = config.experiment.warmup + config.experiment.duration
    down_until: dict[int, tuple[float, int]] = {}
    for i, failure in sorted(enumerate(config.failures), key=lambda x: x[1].at):
        where = f"failures.{i}"
        for key in sorted(failure.model_fields_set - set(FAILURE_KEYS[failure.kind])):
            problems.append((f"{where}.{key}", f"{failure.kind} does not take {key} (it takes {', '.join(FAILURE_KEYS[failure.kind][1:])})"))
        if failure.kind not in supported:
            needs = "mechanism.kind = 'webhook' (receivers to take down)" if failure.kind == "receiver_outage" else "a mechanism that models it"
            problems.append((f"{where}.kind", f"{failure.kind} is not supported with mechanism.kind = {kind!r}; it needs {needs}"))
        if failure.at > run_end:
            problems.append((f"{where}.at", f"{format_duration(failure.at)} is after the run ends (warmup + duration = {format_duration(run_end)}): it would never happen"))
        if failure.kind == "node_crash":
            if failure.node >= config.server.nodes:
                problems.append((f"{where}.node", f"node {failure.node} does not exist (server.nodes = {config.server.nodes}, nodes are numbered from 0)"))
            previous = down_until.get(failure.node)
            if previous and failure.at < previous[0]:
                problems.append((where, f"node {failure.node} is still down then (failures.{previous[1]} lasts until {format_duration(previous[0])})"))
            down_until[failure.node] = (failure.at + failure.duration, i)
    problems += _fleet_checks(config, run_end)
    b = config.mechanism.backoff
    if b.max < b.initial:
        problems.append(("mechanism.backoff.max", f"must be >= initial ({format_duration(b.initial)}), got {format_duration(b.max)}"))
    if config.clients.tabs > 1 and "tabs" not in supported:
        problems.append(("clients.tabs", f"tabs > 1 (several streams per client) is modelled for sse and websocket, not mechanism.kind = {kind!r}; set it to 1"))
    if config.http.compression != "none" and "compression" not in supported:
        problems.append(("http.compression", f"{config.http.compression} is a WebSocket extension; it does not apply to mechanism.kind = {kind!r} (set it to 'none')"))
    server = config.server
    if 0 < server.memory_limit < server.memory_base:
        problems.append(("server.memory_limit", f"{format_size(server.memory_limit)} is below memory_base ({format_size(server.memory_base)}): no connection would fit"))
    if config.workload.upstream_rate > 0 and "upstream" not in supported:
        problems.append(("workload.upstream_rate", f"client -> server messages are not supported yet with mechanism.kind = {kind!r} (websocket only); set it to 0"))
    windows = math.ceil(run_end / config.experiment.sample_every - 1e-9)
    slots = config.node_slots()  # server.nodes for a fixed fleet; the most nodes at once otherwise
    if windows > MAX_WINDOWS or windows * slots > MAX_NODE_WINDOWS:
        problems.append(("experiment.sample_every", f"{format_duration(config.experiment.sample_every)} over {format_duration(run_end)} makes {windows:,} windows (x {slots} nodes); at most {MAX_WINDOWS:,} windows and {MAX_NODE_WINDOWS:,} node-windows"))
    if config.clients.connect_over > run_end:
        problems.append(("clients.connect_over", f"{format_duration(config.clients.connect_over)} is longer than the run ({format_duration(run_end)}): some clients would never start"))
    problems += profile_problems(config.profile)
    return problems


def check_sweep_size(grid: dict[str, list[Any]], replications: int, source: str) -> None:
    """Refuse a sweep too large to set up: every point is validated and written up front
    (about 1 ms and 10 KiB each), so 100,000 points spend minutes before the first run."""
    points = math.prod(len(values) for values in grid.values())
    runs = points * replications
    if points > MAX_SWEEP_POINTS or runs > MAX_SWEEP_RUNS:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in grid.items())
        raise ConfigError(
            f"error: {source}: sweep.grid: {points:,} points ({sizes}) x {replications} replications"
            f" = {runs:,} runs; a sweep may have at most {MAX_SWEEP_POINTS:,} points and"
            f" {MAX_SWEEP_RUNS:,} runs: split it, or use fewer values"
        )


def _fleet_checks(config: ExperimentConfig, run_end: float) -> list[Problem]:
    """[autoscale] bounds and [[operations]] entries."""
    problems: list[Problem] = []
    a = config.autoscale
    if a is not None:
        if a.min_nodes > a.max_nodes:
            problems.append(("autoscale.min_nodes", f"must be <= max_nodes ({a.max_nodes}), got {a.min_nodes}"))
    for i, op in enumerate(config.operations):
        where = f"operations.{i}"
        for key in sorted(op.model_fields_set - set(OPERATION_KEYS[op.kind])):
            problems.append((f"{where}.{key}", f"{op.kind} does not take {key} (it takes {', '.join(OPERATION_KEYS[op.kind][1:])})"))
        if op.at > run_end:
            problems.append((f"{where}.at", f"{format_duration(op.at)} is after the run ends (warmup + duration = {format_duration(run_end)}): it would never happen"))
        if op.kind == "scale_to" and "nodes" not in op.model_fields_set:
            problems.append((f"{where}.nodes", "scale_to needs nodes (the node count to reach)"))
        if op.kind == "scale_to" and a is not None and not a.min_nodes <= op.nodes <= a.max_nodes:
            problems.append((f"{where}.nodes", f"must lie within autoscale.min_nodes..max_nodes ({a.min_nodes}..{a.max_nodes}), got {op.nodes}"))
    return problems


def _sweep_checks(config: ExperimentConfig, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    base = {k: v for k, v in data.items() if k != "sweep"}
    for key, values in config.sweep.grid.items():
        path = loc_path(("sweep", "grid", key))
        if key.split(".")[0] == "sweep":
            problems.append((path, "the sweep section cannot be swept"))
            continue
        try:
            validate_dotted_key(key)
        except ConfigError as exc:
            problems.append((path, exc.lines[0].split(f"{key}: ", 1)[-1]))
            continue
        if not values:
            problems.append((path, "needs at least one value"))
        for value in values:
            for msg in _value_problems(base, key, value):
                problems.append((path, f"value {value!r}: {msg}"))
    return problems


def _value_problems(base: dict[str, Any], key: str, value: Any) -> list[str]:
    """What is wrong with ``key = value`` on top of ``base`` (problems at that key only)."""
    parts = key.split(".")
    if key == "mechanism.kind":
        if not isinstance(value, str):
            return [f"must be a string, got {value!r}"]
        why = kind_problem(value)
        return [why] if why else []
    if parts[0] == "mechanism" and parts[1] != "backoff":
        # a key of some kind's Params: check it against that kind's model
        for kind in registry.kinds():
            model = registry.get(kind).Params
            if resolve_key(model, parts[1:]) is None:
                data: dict[str, Any] = {}
                set_dotted(data, ".".join(parts[1:]), value)
                try:
                    model.model_validate(data)
                except ValidationError as exc:
                    return [msg for _, msg in _pydantic_problems(exc, model, ("mechanism",), kind)]
                return []
        return []
    data = copy.deepcopy(base)
    try:
        set_dotted(data, key, value)
    except ValueError as exc:
        return [str(exc)]
    _, problems = check(data)
    return [msg for path, msg in problems if path == key or path.startswith(key + ".") or key.startswith(path + ".")]


# ---------------------------------------------------------------------------
# Dotted keys (--set, sweep axes)


def all_keys(kind: str | None = None) -> list[str]:
    """Every valid dotted key (``failures.N.at`` for list entries); mechanism keys of
    ``kind``, or of every registered kind."""
    keys = dotted_keys(ExperimentConfig)
    kinds = [kind] if kind and kind in registry.kinds() else registry.kinds()
    for k in kinds:
        keys += [f"mechanism.{p}" for p in dotted_keys(registry.get(k).Params)]
    return list(dict.fromkeys(keys))


def validate_dotted_key(key: str, kind: str | None = None, source: str = "--set") -> None:
    """Raise :class:`ConfigError` unless ``key`` addresses a config key.

    For sweep axes and ``--set``: ``clients.count``, ``network.latency.mean``,
    ``failures.0.at``, ``mechanism.interval`` (a key of ``kind``'s parameters,
    or of any registered mechanism when ``kind`` is None).  The message
    suggests the closest valid key.
    """
    parts = key.split(".")
    why: str | None = "empty part in the key (two dots, or a dot at an end)"
    if all(parts):
        if parts[0] == "mechanism" and len(parts) > 1 and parts[1] not in ("kind", "backoff"):
            kinds = [kind] if kind and kind in registry.kinds() else registry.kinds()
            reasons = [resolve_key(registry.get(k).Params, parts[1:]) for k in kinds]
            why = None if None in reasons else (reasons[0] if reasons else "unknown key")
        else:
            why = resolve_key(ExperimentConfig, parts)
    if why is None:
        return
    if why == "unknown key":
        generic = ".".join("N" if p.isdigit() else p for p in parts)
        match = closest(generic, all_keys(kind), cutoff=0.5)
        if match:
            numbers = iter(p for p in parts if p.isdigit())
            match = ".".join(next(numbers, "0") if p == "N" else p for p in match.split("."))
            why += f"; did you mean {match!r}?"
    raise ConfigError(f"error: {source}: {key}: {why}")
