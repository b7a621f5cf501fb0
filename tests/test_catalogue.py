"""The metric catalogue: exactly the metrics a run emits, each with a known unit, defined once.

Each entry of ``engine/catalogue.py`` derives its metric from counters that exist and that
something records, and an entry's early-stop bound never passes the final value.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from simulator.engine.catalogue import (
    DEFAULT_PRECISION,
    ENTRIES,
    QUANTITIES,
    derive_from,
    so_far,
)
from simulator.engine.cluster import memory_held, memory_per_connection, memory_terms
from simulator.engine.early_stop import LOWER_BOUNDS
from simulator.engine.metrics import Metrics
from simulator.engine.runner import run
from simulator.output.catalogue import CATALOGUE, KEY_METRICS, format_metric, format_value, unit_of
from tests.conftest import SMALL, make_config, run_metrics

UNITS = {"s", "B", "B/s", "fraction", "$", "/s", "J", ""}


@pytest.mark.parametrize("kind", ["short_polling", "webhook"])
def test_every_emitted_metric_is_in_the_catalogue(kind):
    base = {k: v for k, v in SMALL.items() if k != "mechanism.interval"}
    metrics = run_metrics({"mechanism.kind": kind}, base)
    assert set(metrics) == set(CATALOGUE)


def test_units_and_key_metrics_are_known():
    assert all(m.unit in UNITS for m in CATALOGUE.values())
    assert set(KEY_METRICS) <= set(CATALOGUE)
    assert unit_of("latency.p99") == "s" and unit_of("server.cpu_utilization") == "fraction"


@pytest.mark.parametrize(("name", "value", "text"), [
    ("latency.p99", 0.0042, "4.20 ms"),
    ("server.cpu_utilization", 0.3757, "37.57%"),
    ("server.memory_peak", 3 * 2**30, "3.00 GiB"),
    ("requests.total", 60000, "60,000"),
    ("cost.total", 0.0114, "$0.0114"),
])
def test_values_are_shown_in_their_unit(name, value, text):
    assert format_metric(name, value) == text


def test_missing_values_show_a_dash():
    assert format_value(float("nan"), "s") == "—"


# -- one definition per metric (engine/catalogue.py) ---------------------------------

ROOT = Path(__file__).resolve().parent.parent
#: Values a run hands the derivations itself (``build_metrics``'s argument) and the run object.
GIVEN = {"pending", "sim"}
#: Mutating calls that record into a counter kept as a container (a histogram, a list).
RECORDING_CALLS = {"add", "add_many", "append", "extend", "update"}


def _metrics_object() -> Metrics:
    return Metrics(t_start=10.0, t_end=70.0, sample_every=1.0, nodes=1)


def _recorded_attributes() -> set[str]:
    """Attributes of a :class:`Metrics` that something writes outside its ``__init__``.

    Searched in simulator/ and models/: a write to ``self.a`` inside ``Metrics``, or to
    ``m.a``, ``metrics.a``, ``<x>.metrics.a`` anywhere (the names the code gives its
    ``Metrics``).  Written: assigned or augmented (``.a = ``, ``.a += ``, ``.a[i] += ``),
    mutated by a recording call (``.a.add(...)``), or, inside ``Metrics``, bound to a
    local its method then writes (``series = self.w_busy[node]``).
    """
    recorded: set[str] = set()

    def attribute_of(node: ast.AST, inside: bool) -> str | None:
        while isinstance(node, ast.Subscript):
            node = node.value
        if not isinstance(node, ast.Attribute):
            return None
        owner = node.value
        names = {"m", "metrics", "self"} if inside else {"m", "metrics"}
        if isinstance(owner, ast.Name) and owner.id in names or isinstance(owner, ast.Attribute) and owner.attr == "metrics":
            return node.attr
        return None

    def scan(tree: ast.AST, inside: bool) -> None:
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AugAssign) else []
            for target in targets:
                if (name := attribute_of(target, inside)) is not None:
                    recorded.add(name)
            if inside and isinstance(node, ast.Assign) and (name := attribute_of(node.value, inside)):
                recorded.add(name)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in RECORDING_CALLS and (name := attribute_of(node.func.value, inside))):
                recorded.add(name)

    files = [*sorted((ROOT / "simulator").rglob("*.py")), *sorted((ROOT / "models").rglob("*.py"))]
    for path in files:
        if path.name == "catalogue.py":  # reading a counter is not recording it
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "Metrics"]
        for cls in classes:
            for method in cls.body:
                if isinstance(method, ast.FunctionDef) and method.name != "__init__":
                    scan(method, inside=True)
            tree.body = [n for n in tree.body if n is not cls]
        scan(tree, inside=False)
    return recorded


def test_every_entry_is_derived_and_reads_only_what_exists():
    counters = vars(_metrics_object())
    earlier: set[str] = set()
    for entry in ENTRIES:
        assert entry.derive is not None, entry.name
        for name in entry.derive.reads:
            known = name in GIVEN or name in QUANTITIES or name in earlier or name in counters or callable(
                getattr(Metrics, name, None))
            assert known, f"{entry.name} reads {name!r}: no counter, quantity or earlier metric of that name"
        earlier.add(entry.name)
    assert not set(QUANTITIES) & set(counters), "a quantity would hide the counter of its name"
    for quantity, derivation in QUANTITIES.items():
        for name in derivation.reads:
            assert name in GIVEN or name in QUANTITIES or name in counters, f"quantity {quantity} reads {name!r}"


def test_every_counter_an_entry_reads_is_recorded_somewhere():
    counters = vars(_metrics_object())
    recorded = _recorded_attributes()
    reads = {r for d in [*(e.derive for e in ENTRIES), *QUANTITIES.values()] for r in d.reads}
    read_counters = sorted(r for r in reads if r in counters)
    assert read_counters  # the check below checks something
    assert [r for r in read_counters if r not in recorded] == []


def test_the_recording_check_catches_a_counter_nothing_records():
    # a counter only set up in __init__ (and the catalogue) is not recorded
    assert "t_start" not in _recorded_attributes()
    assert {"lost", "latency", "busy_measured", "w_busy", "node_connections_peak"} <= _recorded_attributes()


def test_a_run_emits_the_entries_in_catalogue_order():
    metrics = run_metrics()
    assert list(metrics) == [e.name for e in ENTRIES]


def test_display_entries_are_the_engine_entries():
    assert {m.name: m for m in ENTRIES} == CATALOGUE
    assert all(CATALOGUE[m.name] is m for m in ENTRIES)
    assert all(m.shown_after in CATALOGUE for m in ENTRIES if m.shown_after)


def test_precision_defaults_by_unit():
    for m in ENTRIES:
        assert m.precision == DEFAULT_PRECISION[m.unit], m.name
    assert all(p is None or p >= 1 for p in DEFAULT_PRECISION.values())


def test_memory_is_one_formula_with_the_deflate_state():
    config = make_config({"mechanism.kind": "websocket", "http.compression": "permessage-deflate"},
                         {k: v for k, v in SMALL.items() if k != "mechanism.interval"})
    base, per_connection = memory_terms(config)
    assert base == config.server.memory_base
    assert per_connection == memory_per_connection(config) > config.server.memory_per_connection
    assert memory_held(config, 2, 10) == 2 * base + 10 * per_connection


_WATCHED_RUNS = {
    "short polling, idle CPU": ({"server.idle_cpu": 0.1}, SMALL),
    "websocket, deflate, crash, 2 nodes": (
        {"mechanism.kind": "websocket", "http.compression": "permessage-deflate", "server.nodes": 2,
         "failures": [{"kind": "node_crash", "node": 0, "at": "30s", "duration": "10s"}]},
        {k: v for k, v in SMALL.items() if k != "mechanism.interval"}),
    "sse, refusals": ({"mechanism.kind": "sse", "server.max_connections": 25},
                      {k: v for k, v in SMALL.items() if k != "mechanism.interval"}),
}


@pytest.mark.parametrize("case", sorted(_WATCHED_RUNS))
def test_early_stop_bounds_never_pass_the_final_value(case):
    overrides, base = _WATCHED_RUNS[case]
    seen: dict[str, list[float]] = {name: [] for name in LOWER_BOUNDS}
    runs = []

    def watch(sim):
        runs.append(sim)
        for name in LOWER_BOUNDS:
            value = so_far(sim, name)
            if value is not None:
                seen[name].append(value)

    final = run(make_config(overrides, base), watch=watch).metrics
    assert all(seen.values()), seen  # a fixed fleet: every bound holds, at every call
    for name, values in seen.items():
        assert values == sorted(values), f"{name} went down: {values}"
        assert max(values) <= final[name], (name, max(values), final[name])
        # the bound is the metric's own derivation: on the finished run it is the metric
        assert so_far(runs[-1], name) == final[name]
    if case.startswith("sse"):
        assert final["connections.refused"] > 0  # the case exercises a watched limit


def test_a_changing_fleet_bounds_only_what_still_holds():
    config = make_config({"operations": [{"kind": "scale_to", "at": "30s", "nodes": 2}]})
    held: set[str] = set()

    def watch(sim):
        held.update(name for name in LOWER_BOUNDS if so_far(sim, name) is not None)

    run(config, watch=watch)
    assert held == {m.name for m in ENTRIES if m.lower_bound_when is not None and m.name not in
                    ("server.cpu_utilization", "server.memory_peak")}


def test_the_testbed_derives_the_shared_formulas_with_the_entries():
    counters = {"requests": 50, "empty_requests": 10, "span": 25.0, "bytes_total": 1000.0, "payload_total": 250.0}
    derived = derive_from(counters)
    assert derived == {"requests.total": 50, "requests.per_second": 2.0, "requests.empty_fraction": 0.2,
                       "network.bytes_per_second": 40.0, "network.overhead_fraction": 0.75}
