"""[[operations]]: scale_to and rolling deploys change the fleet during a run.

Node-hours are the billed node count integrated over the measured window, exact
for a ``scale_to`` at a known time (booting and draining nodes are billed).  A
rolling deploy replaces every node, so every connection is moved at least once;
a drained close is not a crash (``connections.drained``, not ``dropped``).
The books balance through every operation for every mechanism.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import ConfigError
from simulator.engine.runner import run
from tests.conftest import make_config

KINDS = ("short_polling", "long_polling", "sse", "websocket", "webhook")
CONNECTED = ("short_polling", "long_polling", "sse", "websocket")

#: 40 clients, 70 s (10 s warm-up); any mechanism.
BASE = {
    "experiment.name": "ops",
    "experiment.duration": "60s",
    "experiment.warmup": "10s",
    "experiment.drain": "30s",
    "clients.count": 40,
    "clients.connect_over": "2s",
    "workload.rate": 0.5,
}


def run_with(kind: str, operations: list[dict], **overrides):
    values = {**BASE, "mechanism.kind": kind, "operations": operations, **overrides}
    return run(make_config(values, base={}))


def test_node_hours_of_a_scale_to_are_the_node_count_integrated_over_time():
    # 2 nodes until 40 s, then 5 (boot time is billed), measured over [10 s, 70 s]
    result = run_with("sse", [{"kind": "scale_to", "at": "40s", "nodes": 5, "boot_time": "5s"}], **{"server.nodes": 2})
    m = result.metrics
    node_seconds = 2 * 30 + 5 * 30
    assert m["server.node_hours"] == pytest.approx(node_seconds / 3600, rel=1e-12)
    assert m["server.nodes"] == pytest.approx(node_seconds / 60, rel=1e-12)
    assert m["server.nodes_peak"] == 5
    window_hours = (m["cost.total"] / m["cost.per_month"]) * 730  # cost.total covers the window
    balancer = m["cost.balancer"] * window_hours / 730
    node_cost = m["cost.total"] - 0.09 * m["network.bytes_down"] / 1e9 - balancer
    assert node_cost == pytest.approx(0.10 * node_seconds / 3600, rel=1e-9)
    ts = result.timeseries
    assert ts["nodes"][int(np.searchsorted(ts["time"], 30))] == 2
    assert ts["nodes"][int(np.searchsorted(ts["time"], 50))] == 5


def test_a_scale_in_bills_the_draining_nodes_until_they_are_gone_and_spreads_the_closes():
    # 4 -> 1 at 30 s, draining 20 s: 4 nodes billed until 50 s
    result = run_with("sse", [{"kind": "scale_to", "at": "30s", "nodes": 1, "drain": "20s"}], **{"server.nodes": 4})
    m = result.metrics
    assert m["server.node_hours"] == pytest.approx((4 * 40 + 1 * 20) / 3600, rel=1e-12)
    assert m["server.nodes_peak"] == 4
    assert m["connections.drained"] >= 25  # three of four nodes' ~40 connections
    assert m["connections.dropped"] == 0  # a drain is not a crash
    ts = result.timeseries
    busy = ts["time"][ts["reconnects_per_second"] > 0]
    # closes spread over the 20 s window (a reconnect follows each within the backoff), not one burst
    assert busy.min() >= 30 and busy.max() - busy.min() >= 15
    assert ts["open_connections"][-1] == 40  # everyone is back, on the one node left


@pytest.mark.parametrize("kind", CONNECTED)
def test_a_rolling_deploy_without_drain_moves_every_connection_at_least_once(kind: str):
    deploy = {"kind": "rolling_deploy", "at": "20s", "batch": 1, "drain": "0s",
              "deregistration_delay": "0s", "boot_time": "2s"}
    m = run_with(kind, [deploy], **{"server.nodes": 3}).metrics
    assert m["reconnects.total"] >= 40  # K = 3 nodes replaced, every client was on one of them
    assert m["connections.drained"] >= 40
    assert m["connections.dropped"] == 0
    assert m["server.nodes_peak"] == 4  # one surge node at a time
    assert m["server.node_hours"] == pytest.approx((3 * 60 + 3 * 2) / 3600, rel=1e-12)


OPERATIONS = {
    "rolling deploy, drain, batch 2": [{"kind": "rolling_deploy", "at": "20s", "batch": 2, "drain": "8s",
                                        "deregistration_delay": "2s", "boot_time": "3s"}],
    "scale in and out": [{"kind": "scale_to", "at": "20s", "nodes": 1, "drain": "5s"},
                         {"kind": "scale_to", "at": "45s", "nodes": 3, "boot_time": "5s"}],
    "scale in at once, crash after": [{"kind": "scale_to", "at": "25s", "nodes": 2, "drain": "0s"}],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_books_balance_through_every_operation(kind: str, name: str):
    extra = {"server.nodes": 3}
    if name.endswith("crash after"):
        extra["failures"] = [{"kind": "node_crash", "node": 0, "at": "35s", "duration": "5s"}]
    m = run_with(kind, OPERATIONS[name], **extra).metrics  # the runner raises if they do not
    assert m["deliveries.owed"] > 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert m["deliveries.delivered"] >= 0.9 * m["deliveries.owed"]


def test_the_same_seed_gives_the_same_metrics_through_a_deploy():
    deploy = [{"kind": "rolling_deploy", "at": "20s", "drain": "5s", "boot_time": "2s"}]
    a = run_with("websocket", deploy, **{"server.nodes": 2}).metrics
    b = run_with("websocket", deploy, **{"server.nodes": 2}).metrics
    assert a == b


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ({"kind": "scale_to", "at": "20s"}, "operations.0.nodes: scale_to needs nodes"),
        ({"kind": "rolling_deploy", "nodes": 3}, "operations.0.nodes: rolling_deploy does not take nodes"),
        ({"kind": "scale_to", "nodes": 2, "at": "2h"}, "operations.0.at: 2h is after the run ends"),
        ({"kind": "restart"}, "operations.0.kind:"),
    ],
)
def test_a_bad_operation_is_one_line_naming_its_key(operation: dict, message: str):
    with pytest.raises(ConfigError) as info:
        make_config({**BASE, "operations": [operation]}, base={})
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
