"""The books: owed = delivered + lost + pending, for every short-polling set-up.

The runner checks the identity itself (and raises); here it is checked again
from the metrics, across crashes, keep-alive off, several nodes behind each
balancer and every workload pattern, and ``owed`` is held against what the
workload must owe: a Poisson count of rate λ·feeds·D, each publish owing one
delivery per subscriber.
"""

from __future__ import annotations

import math

import pytest

from simulator.config import load_config
from simulator.engine.runner import run
from simulator.engine.summary import BooksDoNotBalance, check_books
from tests.conftest import SMALL

BASE = SMALL  # the shared quick experiment (conftest)
CRASH = [{"kind": "node_crash", "node": 0, "at": "30s", "duration": "10s"}]

GRID = {
    "plain": {},
    "keep-alive off": {"http.keep_alive": False, "http.tls": "1.2"},
    "crash, one node": {"failures": CRASH},
    "crash, 3 nodes round robin": {"server.nodes": 3, "failures": CRASH},
    "crash, 3 nodes least connections": {"server.nodes": 3, "cluster.balancer": "least_connections", "failures": CRASH},
    "crash, 3 nodes hash, keep-alive off": {"server.nodes": 3, "cluster.balancer": "hash", "http.keep_alive": False, "failures": CRASH},
    "crash at warm-up end": {"failures": [{"kind": "node_crash", "node": 0, "at": "10s", "duration": "5s"}]},
    "crash spanning the end": {"failures": [{"kind": "node_crash", "node": 0, "at": "65s", "duration": "30s"}]},
    "two crashes, after_response": {"mechanism.schedule": "after_response", "server.nodes": 2,
                                    "failures": [*CRASH, {"kind": "node_crash", "node": 1, "at": "45s", "duration": "5s"}]},
    "broadcast, exponential interval": {"workload.pattern": "broadcast", "mechanism.interval": {"dist": "exponential", "mean": "2s"}},
    "topics, periodic, lognormal latency": {"workload.pattern": "topics", "workload.topics": 5, "workload.arrivals": "periodic",
                                            "network.latency": {"dist": "lognormal", "median": "30ms", "sigma": 1.0}},
    "saturated node, full table": {"server.workers": 1, "server.request_cost": "30ms", "server.max_connections": 25},
    "idle keep-alive closes": {"http.keep_alive_timeout": "1s", "mechanism.interval": "3s"},
}


@pytest.mark.parametrize("overrides", GRID.values(), ids=GRID.keys())
def test_books_balance(overrides) -> None:
    config = load_config(None, {**BASE, **overrides})
    m = run(config).metrics
    owed = m["deliveries.owed"]
    assert owed == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert m["deliveries.delivered"] > 0 and m["deliveries.pending"] >= 0 and m["deliveries.lost"] >= 0
    # Short polling reads a log that outlives the nodes: a crash loses requests, never deliveries.
    assert m["deliveries.lost"] == 0
    # owed follows from the workload alone: publishes ~ Poisson(rate * feeds * D) (or D * rate
    # per feed when periodic), each owing one delivery per subscriber; 5 sigma.
    w, n, d = config.workload, config.clients.count, config.experiment.duration
    feeds = {"per_client": n, "broadcast": 1, "topics": w.topics}[w.pattern]
    per_publish = n / feeds
    expected = w.rate * feeds * d * per_publish
    sigma = per_publish * math.sqrt(w.rate * feeds * d) if w.arrivals == "poisson" else per_publish * feeds
    sigma = sigma if w.pattern != "topics" else sigma * 3  # uneven subscriber counts per topic
    assert abs(owed - expected) <= 5 * sigma + per_publish, (owed, expected)


def test_corrupted_books_raise() -> None:
    m = run(load_config(None, BASE)).metrics
    check_books(m)
    for key, delta in (("deliveries.delivered", -1), ("deliveries.pending", 1), ("deliveries.owed", 1), ("deliveries.lost", 2)):
        bad = dict(m)
        bad[key] += delta
        with pytest.raises(BooksDoNotBalance, match="do not balance"):
            check_books(bad)
