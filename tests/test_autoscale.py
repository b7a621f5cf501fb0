"""[autoscale]: target tracking with min/max, cooldowns, boot time and drain.

The policy itself is checked against a scripted load step (the tracked level is
replaced by a step function of time), so every decision can be predicted:
desired = ceil(serving × level / target), clamped to [min_nodes, max_nodes], a
scale-out no sooner than ``scale_out_cooldown`` after the last one, a scale-in no
sooner than ``scale_in_cooldown`` after any step.  End-to-end runs then check the
real metrics drive it (connections refused on a full node bring more nodes;
an idle fleet shrinks to what the target asks) and that the books balance.
"""

from __future__ import annotations

import math

import pytest

from simulator.config import ConfigError
from simulator.engine.cluster import Cluster
from simulator.engine.runner import run
from tests.conftest import make_config

BASE = {
    "experiment.name": "autoscale",
    "experiment.warmup": "10s",
    "experiment.drain": "30s",
    "clients.count": 20,
    "clients.connect_over": "2s",
    "workload.rate": 0.2,
}
POLICY = {"target": 0.5, "min_nodes": 1, "max_nodes": 5, "evaluate_every": "10s",
          "scale_out_cooldown": "30s", "scale_in_cooldown": "60s", "boot_time": "0s", "drain": "0s"}


def step_level(self, metric, since, now):
    """Load 0.9 per node from 100 s to 300 s, 0.1 otherwise (the step the policy sees)."""
    return 0.9 if 100 <= now <= 300 else 0.1


def test_target_tracking_follows_a_load_step_within_cooldowns_and_bounds(monkeypatch):
    monkeypatch.setattr(Cluster, "_level", step_level)
    config = make_config({**BASE, "mechanism.kind": "sse", "experiment.duration": "490s",
                          "server.nodes": 2, "autoscale": POLICY}, base={})
    result = run(config)
    m = result.metrics
    nodes = result.timeseries["nodes"]
    time = result.timeseries["time"]
    assert nodes.max() == 5 and nodes.min() == 1  # clamped to [min_nodes, max_nodes]
    # 2 nodes at 0.1 over target 0.5: desired 1 at the first evaluation (10 s); then the step:
    # 1 -> ceil(1 * 1.8) = 2 at 100 s, 2 -> 4 at 130 s (cooldown 30 s), 4 -> 5 (max) at 160 s
    assert nodes[time == 50][0] == 1
    assert nodes[time == 105][0] == 2
    assert nodes[time == 125][0] == 2  # still cooling down
    assert nodes[time == 135][0] == 4
    assert nodes[time == 165][0] == 5
    # after the step (310 s) a scale-in only 60 s after the last step: 160 + 60 < 310, so at 310 s,
    # desired ceil(5 * 0.2) = 1
    assert nodes[time == 305][0] == 5
    assert nodes[time == 315][0] == 1
    assert m["autoscale.scale_outs"] == 3
    assert m["autoscale.scale_ins"] == 2  # 2 -> 1 at 10 s (the window's first instant) and 5 -> 1 at 310 s
    assert m["server.node_hours"] == pytest.approx(sum(nodes[time >= 10]) / 3600, rel=1e-9)  # 1 s windows


def test_scale_in_waits_for_its_cooldown_after_a_scale_out(monkeypatch):
    # The load drops 20 s after the last scale-out: the scale-in waits until 60 s after it.
    monkeypatch.setattr(Cluster, "_level", lambda self, metric, since, now: 0.9 if 100 <= now <= 180 else 0.1)
    config = make_config({**BASE, "mechanism.kind": "webhook", "clients.kind": "backend",
                          "experiment.duration": "290s", "server.nodes": 1, "autoscale": POLICY}, base={})
    result = run(config)
    nodes, time = result.timeseries["nodes"], result.timeseries["time"]
    # outs at 100 (1 -> 2), 130 (2 -> 4), 160 (4 -> 5); ins no sooner than 220
    assert nodes[time == 215][0] == 5
    assert nodes[time == 225][0] == 1


def test_full_nodes_bring_more_nodes_and_everyone_connects():
    # One node holds 10 connections; 40 SSE clients: refused ones retry while the fleet grows.
    # Refused clients hold no slot, so the level reads at most 100 %: each step grows the fleet
    # by at most 1 / target (1 -> 2 -> 3 -> 4 -> 5, every 30 s cooldown), the scale-out lag.
    policy = {**POLICY, "metric": "connections", "target": 0.8, "max_nodes": 8, "boot_time": "5s"}
    config = make_config({**BASE, "mechanism.kind": "sse", "clients.count": 40, "experiment.duration": "200s",
                          "server.nodes": 1, "server.max_connections": 10, "autoscale": policy}, base={})
    m = run(config).metrics
    assert m["autoscale.scale_outs"] >= 1
    assert m["server.nodes_peak"] == math.ceil(40 / (0.8 * 10))  # 5 nodes hold 40 at 80 %
    assert m["connections.refused"] > 0  # the scale-out lag: refusals until the nodes boot
    assert m["connections.peak"] == 40


@pytest.mark.parametrize("kind", ["short_polling", "long_polling", "sse", "websocket", "webhook"])
def test_an_idle_fleet_shrinks_to_the_target_and_the_books_balance(kind: str):
    # 4 nodes of 20 slots, 20 clients: 25 % full against a 50 % target -> 2 nodes
    policy = {**POLICY, "metric": "connections", "min_nodes": 1, "drain": "5s"}
    values = {**BASE, "mechanism.kind": kind, "experiment.duration": "60s", "server.nodes": 4,
              "server.max_connections": 20, "autoscale": policy}
    if kind == "webhook":
        values["clients.kind"] = "backend"
    m = run(make_config(values, base={})).metrics
    if kind == "webhook":  # no connections to the fleet: level 0, down to min_nodes
        assert m["server.nodes_peak"] == 4 and m["autoscale.scale_ins"] == 1
    else:
        assert m["autoscale.scale_ins"] == 1 and m["connections.drained"] > 0
        assert m["connections.peak"] == 20
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]


def test_min_nodes_above_max_nodes_is_one_line():
    with pytest.raises(ConfigError) as info:
        make_config({**BASE, "autoscale": {"min_nodes": 5, "max_nodes": 2}}, base={})
    lines = str(info.value).splitlines()
    assert lines == ["error: config: autoscale.min_nodes: must be <= max_nodes (2), got 5"] or (
        len(lines) == 1 and "autoscale.min_nodes: must be <= max_nodes (2), got 5" in lines[0]
    )


def test_the_fleet_starts_within_the_bounds():
    config = make_config({**BASE, "server.nodes": 1, "autoscale": {"min_nodes": 3, "max_nodes": 6}}, base={})
    assert config.starting_nodes() == 3


def test_the_policy_holds_while_a_rolling_deploy_runs(monkeypatch):
    # At target the policy wants the serving count; the deploy's surge node would look like one
    # too many and be scaled in, and the deploy would shrink the fleet.  It holds instead.
    monkeypatch.setattr(Cluster, "_level", lambda self, metric, since, now: 0.5)
    policy = {**POLICY, "evaluate_every": "5s", "scale_out_cooldown": "0s", "scale_in_cooldown": "0s"}
    deploy = {"kind": "rolling_deploy", "at": "20s", "batch": 1, "drain": "0s",
              "deregistration_delay": "0s", "boot_time": "5s"}
    config = make_config({**BASE, "mechanism.kind": "sse", "experiment.duration": "60s", "server.nodes": 3,
                          "autoscale": policy, "operations": [deploy]}, base={})
    m = run(config).metrics
    assert m["autoscale.scale_ins"] == 0 and m["autoscale.scale_outs"] == 0
    assert m["reconnects.total"] >= 20  # every node replaced
    assert m["server.nodes_peak"] == 4
    assert m["server.node_hours"] == pytest.approx((3 * 60 + 3 * 5) / 3600, rel=1e-12)
