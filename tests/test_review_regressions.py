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
