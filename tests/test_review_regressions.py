"""Regressions found in review: each test pins one bug that made a number wrong."""

from __future__ import annotations

from collections import Counter

from simulator import load_config, run
from simulator.runtime import Simulation

BASE = {
    "experiment.duration": "60s",
    "experiment.warmup": "10s",
    "clients.count": 200,
    "workload.rate": 0.5,
}


def test_least_connections_spreads_ties_over_the_nodes():
    """With equal counts (no connection held), least_connections must not pick node 0 every time."""
    sim = Simulation(load_config(None, {**BASE, "server.nodes": 3, "cluster.balancer": "least_connections"}))
    picks = Counter(sim.cluster.pick(c).index for c in range(300))
    assert picks == {0: 100, 1: 100, 2: 100}
    # a node with fewer connections still wins over the turn order
    sim.cluster.nodes[0].open(0.0)
    sim.cluster.nodes[2].open(0.0)
    assert {sim.cluster.pick(c).index for c in range(6)} == {1}


def test_least_connections_balances_webhook_posts():
    """Webhook POSTs hold no server connection: the provider's load spreads like round robin.

    Each of 3 nodes should carry a third of the work; before the fix node 0 carried all
    of it, so its worst window was ~3x the round-robin one.
    """
    peak = {
        balancer: run(
            load_config(None, {**BASE, "mechanism.kind": "webhook", "server.nodes": 3, "cluster.balancer": balancer})
        ).metrics["server.cpu_utilization_peak"]
        for balancer in ("round_robin", "least_connections")
    }
    assert peak["least_connections"] < 1.5 * peak["round_robin"]


def test_node_memory_peak_ignores_the_warm_up():
    """A crash during the warm-up piles every client onto the other node, but only then.

    In the measured window round robin splits them evenly again (kept-alive connections
    idle out between polls), so the busiest node holds about half the cluster's peak;
    before the fix it reported the warm-up's pile-up (~all of it).
    """
    m = run(
        load_config(
            None,
            {
                **BASE,
                "experiment.warmup": "30s",
                "clients.count": 600,
                "server.nodes": 2,
                "mechanism.interval": "5s",
                "http.keep_alive_timeout": "3s",
                "server.memory_base": "0B",
                "server.memory_per_connection": "1B",
                "failures": [{"kind": "node_crash", "node": 0, "at": "5s", "duration": "10s"}],
            },
        )
    ).metrics
    assert m["server.memory_peak_per_node"] < 0.6 * m["connections.peak"]
