"""Sweeps: grid expansion, --set axes, seeds, statistics and executor independence."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

import simulator
from simulator.config import ConfigError
from simulator.workflow.grid import expand_grid, make_plan, merge_axes, parse_set, replication_seed
from simulator.workflow.store import mean_ci95

TINY = """
[experiment]
name = "tiny"
description = "A tiny sweep for the tests."
seed = 3
duration = "5s"
warmup = "1s"

[clients]
count = 20
connect_over = "1s"

[sweep]
replications = 3
[sweep.grid]
"clients.count" = [20, 40]
"mechanism.kind" = ["short_polling", "sse"]
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def key(row):
    return (row["point"], row["replication"])


# -- grid and --set ------------------------------------------------------------


def test_set_axes_add_replace_and_override():
    grid = {"clients.count": [1, 2], "mechanism.kind": ["sse"]}
    axes, overrides = merge_axes(grid, ["clients.count=10,20,30", "network.latency=10ms,80ms", "mechanism.kind=websocket"])
    # replaced in place, appended at the end; one value is an override that removes the axis
    assert list(axes) == ["clients.count", "network.latency"]
    assert axes["clients.count"] == [10, 20, 30]
    assert axes["network.latency"] == ["10ms", "80ms"]
    assert overrides == {"mechanism.kind": "websocket"}
    points = expand_grid(axes)
    assert len(points) == 6
    assert [p["clients.count"] for p in points] == [10, 10, 20, 20, 30, 30]  # first axis slowest


def test_set_values_keep_tables_and_quotes_whole():
    k, values = parse_set('network.latency={dist = "uniform", low = "10ms", high = "30ms"},"5ms"')
    assert k == "network.latency"
    assert values == [{"dist": "uniform", "low": "10ms", "high": "30ms"}, "5ms"]
    with pytest.raises(ConfigError):
        parse_set("clients.count")


def test_plan_from_file_and_set(tiny):
    plan = make_plan(tiny, grid=["clients.count=20,40,80", "workload.rate=0.5"], replications=2)
    assert plan.grid == {"clients.count": [20, 40, 80], "mechanism.kind": ["short_polling", "sse"]}
    assert len(plan.points) == 6 and len(plan.tasks()) == 12
    assert all(p.config.workload.rate == 0.5 for p in plan.points)
    assert len({p.id for p in plan.points}) == 6


def test_bad_axis_key_and_value_are_input_errors(tiny):
    with pytest.raises(ConfigError, match="clients.count"):
        make_plan(tiny, grid=["clients.cont=1,2"])
    with pytest.raises(ConfigError, match="clients.count=-5"):
        make_plan(tiny, grid=["clients.count=10,-5"])
    with pytest.raises(ConfigError, match="interval"):
        make_plan(tiny, grid=["mechanism.intervall=1s,2s"])


def test_mechanism_parameters_of_several_kinds_in_one_sweep(tiny):
    # interval belongs to short polling only: SSE points keep their own parameters.
    plan = make_plan(tiny, grid=["mechanism.interval=1s,2s"])
    kinds = {(p.values["mechanism.kind"], p.values["mechanism.interval"]) for p in plan.points}
    assert len(kinds) == 4
    sse = [p for p in plan.points if p.values["mechanism.kind"] == "sse"]
    assert all(not hasattr(p.config.mechanism.params, "interval") for p in sse)
    # a file written for short polling can sweep push mechanisms: its interval is set aside
    file_params = make_plan(tiny, grid=["mechanism.kind=sse,websocket", "mechanism.interval=2s"])
    assert [p.config.mechanism.kind for p in file_params.points] == ["sse", "websocket"] * 2
    # ... but an axis no swept kind has would be ignored by every point: refused
    with pytest.raises(ConfigError, match="not a parameter of sse, websocket"):
        make_plan(tiny, grid=["mechanism.kind=sse,websocket", "mechanism.hold=1s,2s"])


# -- seeds -----------------------------------------------------------------------


def test_seeds_do_not_depend_on_grid_order_or_other_points(tiny):
    full = make_plan(tiny, grid=["clients.count=20,40,80"])
    reordered = make_plan(tiny, grid=["clients.count=80,20", "mechanism.kind=sse,short_polling"])
    alone = make_plan(tiny, grid=["clients.count=40", "mechanism.kind=sse"])  # overrides, no axes
    seeds = {canon(p.values): full.seeds(p) for p in full.points}
    for point in reordered.points:
        assert reordered.seeds(point) == seeds[canon(point.values)]
    # the seed follows the resolved config, not whether a value came from an axis or an override
    assert alone.seeds(alone.points[0]) == seeds[canon({"clients.count": 40, "mechanism.kind": "sse"})]
    # replications get distinct seeds
    assert len(set(seeds[canon({"clients.count": 20, "mechanism.kind": "sse"})])) == 3


def canon(values):
    return tuple(sorted(values.items()))


def test_common_random_numbers_across_mechanisms(tiny):
    """Mechanisms at one point share seeds; workload keys change them."""
    plan = make_plan(tiny)
    by = {canon(p.values): plan.seeds(p) for p in plan.points}
    assert by[canon({"clients.count": 20, "mechanism.kind": "sse"})] == by[canon({"clients.count": 20, "mechanism.kind": "short_polling"})]
    assert by[canon({"clients.count": 20, "mechanism.kind": "sse"})] != by[canon({"clients.count": 40, "mechanism.kind": "sse"})]
    two_nodes = make_plan(tiny, grid=["server.nodes=2,4"])
    assert len({tuple(two_nodes.seeds(p)) for p in two_nodes.points}) == 2  # (one per client count)
    assert replication_seed(3, {}, 0) != replication_seed(4, {}, 0)
    # so both mechanisms are owed exactly the same notifications, replication by replication
    rows = simulator.sweep(tiny, workers=1)
    owed = {}
    for row in rows:
        owed.setdefault((row["clients.count"], row["replication"]), set()).add(row["deliveries.owed"])
    assert all(len(v) == 1 for v in owed.values())


def test_point_results_do_not_depend_on_other_points(tiny):
    alone = simulator.sweep(tiny, grid={"clients.count": [40], "mechanism.kind": ["sse"]}, workers=1)
    full = {key(r): r for r in simulator.sweep(tiny, workers=1)}
    assert len(alone) == 3
    for row in alone:
        assert row == full[key(row)]
    # the same point given as overrides (no axes): the same seeds and metrics
    plain = simulator.sweep(tiny, grid=["clients.count=40", "mechanism.kind=sse"], workers=1)
    for a, b in zip(plain, alone, strict=True):
        assert {k: v for k, v in a.items() if k != "point"} == {
            k: v for k, v in b.items() if k not in ("point", "clients.count", "mechanism.kind")}


# -- executors --------------------------------------------------------------------


def test_identical_results_for_1_and_2_workers_and_dask(tiny):
    distributed = pytest.importorskip("distributed")
    one = simulator.sweep(tiny, workers=1)
    two = simulator.sweep(tiny, workers=2)
    assert len(one) == 12
    assert one == two  # same rows, same order, every metric to the last digit
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        dask_rows = simulator.sweep(tiny, scheduler=cluster.scheduler_address)
    assert dask_rows == one


def test_dask_with_worker_processes(tiny):
    distributed = pytest.importorskip("distributed")
    one = simulator.sweep(tiny, grid={"clients.count": [20]}, replications=2, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        rows = simulator.sweep(tiny, grid={"clients.count": [20]}, replications=2, scheduler=client)
    assert rows == one


# -- statistics ---------------------------------------------------------------------


def test_ci95_matches_scipy_on_known_data():
    data = [1.0, 2.0, 3.0, 4.0, 5.0]
    mean, half = mean_ci95(data)
    low, high = stats.t.interval(0.95, len(data) - 1, loc=np.mean(data), scale=stats.sem(data))
    assert mean == 3.0
    assert half == pytest.approx((high - low) / 2, rel=1e-12)
    assert half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)  # t(0.975, 4)
    assert mean_ci95([7.0, 7.0, 7.0]) == (7.0, 0.0)
    assert math.isnan(mean_ci95([7.0])[1])


def test_summary_csv_is_mean_and_ci_of_runs_csv(tiny, tmp_path):
    out = tmp_path / "sweep"
    simulator.sweep(tiny, workers=1, out=out)
    runs = list(csv.DictReader(open(out / "runs.csv")))
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert len(runs) == 12 and len(summary) == 4
    assert {r["status"] for r in runs} == {"ok"}
    for row in summary:
        values = [float(r["latency.mean"]) for r in runs if r["point"] == row["point"]]
        mean, half = mean_ci95(values)
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert float(row["latency.mean"]) == mean
        assert float(row["latency.mean.ci95"]) == pytest.approx((high - low) / 2, rel=1e-9)
        assert row["replications"] == "3"


def test_unregistered_kinds_can_be_skipped_with_a_warning(tiny):
    with pytest.raises(ConfigError, match="carrier_pigeon"):
        make_plan(tiny, grid=["mechanism.kind=sse,carrier_pigeon"])
    with pytest.warns(UserWarning, match="carrier_pigeon"):
        plan = make_plan(tiny, grid=["mechanism.kind=sse,carrier_pigeon"], skip_unknown_kinds=True)
    assert plan.grid["mechanism.kind"] == ["sse"]


def test_memory_of_concurrent_runs_is_checked_up_front(tiny, monkeypatch):
    import types

    import psutil

    from simulator.engine.estimate import estimate_memory_bytes
    from simulator.workflow.sweep import check_sweep_fits

    plan = make_plan(tiny, grid=["mechanism.kind=short_polling", "clients.count=1000,2000,3000,4000"])
    one = estimate_memory_bytes(plan.points[-1].config)  # the largest point
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=2.5 * one))
    check_sweep_fits(plan, 2, "tiny.toml")  # the two largest fit
    with pytest.raises(ConfigError, match="use --workers 2"):
        check_sweep_fits(plan, 4, "tiny.toml")
