"""Long polling against its theory (RFC 6202 behaviour, renewal arguments).

A cycle runs from one look at the log (a request reaching the server) to the
next.  With per-client Poisson feeds of rate λ, a hold H and a gap R from an
answer to the next look, a cycle is R plus, if nothing was published during R,
min(Exp(λ), H): the request rate per client is
1 / (R + e^(−λR) (1 − e^(−λH)) / λ), which is λ / (1 − e^(−λH)) at R = 0.
Rates are averaged over independent seeds and compared with a Student-t band.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from models.long_polling import request_rate, zero_gap_request_rate
from simulator.config import load_config
from simulator.engine.node import ServerNode
from simulator.engine.runner import run
from simulator.engine.simulation import Simulation

BASE: dict[str, Any] = {
    "experiment.duration": "300s",
    "experiment.warmup": "30s",
    "clients.count": 200,
    "clients.connect_over": "5s",
    "mechanism.kind": "long_polling",
    "workload.pattern": "per_client",
    "workload.rate": 0.2,
    "http.tls": "none",
}


def _run(overrides: dict[str, Any]) -> dict[str, float]:
    values = {**BASE, **overrides}
    return run(load_config(None, values)).metrics


def _rates(overrides: dict[str, Any], seeds: range) -> np.ndarray:
    """Requests per second per client, one value per seed."""
    out = []
    for seed in seeds:
        m = _run({**overrides, "experiment.seed": seed})
        out.append(m["requests.per_second"] / BASE["clients.count"])
    return np.array(out)


def _assert_mean(sample: np.ndarray, expected: float) -> None:
    """Mean of ``sample`` equals ``expected`` within a 99.9 % Student-t interval."""
    n = len(sample)
    half = stats.t.ppf(0.9995, n - 1) * sample.std(ddof=1) / math.sqrt(n)
    assert abs(sample.mean() - expected) <= half, (sample.mean(), expected, half)


def test_request_rate_at_zero_gap():
    # No latency, no CPU, no serialisation: R = 0 and rate = λ / (1 − e^(−λH)).
    lam, hold = 0.2, 5.0
    rates = _rates(
        {
            "mechanism.hold": f"{hold}s",
            "network.latency": "0s",
            "network.bandwidth": "1Tbps",
            "server.request_cost": "0s",
            "server.message_cost": "0s",
        },
        range(1, 7),
    )
    expected = zero_gap_request_rate(lam, hold)
    assert abs(expected - 0.3164) < 1e-3  # far from both λ = 0.2 and 1 / hold = 0.2
    _assert_mean(rates, expected)


def test_request_rate_with_a_gap():
    # R = cost + 2 x latency + rerequest_delay (+ nanoseconds of serialisation), with
    # request_cost = message_cost so that every kind of answer leaves the same gap.
    lam, hold, latency, cost, delay = 0.5, 2.0, 0.025, 0.001, 1.0
    rates = _rates(
        {
            "workload.rate": lam,
            "mechanism.hold": f"{hold}s",
            "mechanism.rerequest_delay": f"{delay}s",
            "network.latency": f"{latency}s",
            "network.bandwidth": "1Tbps",
            "server.request_cost": f"{cost}s",
            "server.message_cost": f"{cost}s",
        },
        range(1, 7),
    )
    gap = cost + 2 * latency + delay
    expected = request_rate(lam, hold, gap)
    assert abs(expected - zero_gap_request_rate(lam, hold)) > 0.2  # the gap matters
    _assert_mean(rates, expected)


def test_latency_of_a_held_poll_is_one_way_plus_service():
    # A held poll is answered at publish: latency = message_cost + latency + serialisation.
    # Events landing in a gap R (a fraction R / E[cycle] of them, by PASTA) wait R/2 more.
    lam, hold, latency, cost = 0.1, 30.0, 0.025, 0.001
    m = _run(
        {
            "workload.rate": lam,
            "mechanism.hold": f"{hold}s",
            "network.latency": f"{latency}s",
            "server.request_cost": f"{cost}s",
            "server.message_cost": f"{cost}s",
        }
    )
    serialisation = (371 + 200) * 8 / 100e6
    base = cost + latency + serialisation
    gap = cost + 2 * latency + serialisation + 500 * 8 / 100e6
    cycle = 1 / request_rate(lam, hold, gap)
    assert abs(m["latency.p50"] - base) <= 0.01 * base  # histogram buckets: <= 1 %
    # excess X = U(0, R) with probability p = R / E[cycle]: E[X] = pR/2, E[X^2] = pR^2/3
    p = gap / cycle
    expected_mean = base + p * gap / 2
    se = math.sqrt((p * gap * gap / 3 - (p * gap / 2) ** 2) / m["deliveries.delivered"])
    assert abs(m["latency.mean"] - expected_mean) <= 4 * se
    assert m["deliveries.lost"] == 0


def test_balancer_idle_timeout_cuts_holds_exactly():
    # Nothing is ever published: every hold is cut at idle_timeout.  With constant backoff
    # (jitter none, initial = max = 1 s) a cycle is handshake (2L) + request (L) +
    # idle_timeout + the close reaching the client (L) + 1 s.
    latency, idle = 0.025, 10.0
    clients, duration = BASE["clients.count"], 300.0
    m = _run(
        {
            "workload.rate": 0.0,
            "mechanism.hold": "30s",
            "cluster.idle_timeout": f"{idle}s",
            "mechanism.backoff.jitter": "none",
            "mechanism.backoff.initial": "1s",
            "mechanism.backoff.max": "1s",
            "network.latency": f"{latency}s",
        }
    )
    cycle = 4 * latency + idle + 1.0 + 500 * 8 / 100e6
    low, high = clients * math.floor(duration / cycle), clients * math.ceil(duration / cycle)
    for key in ("connections.dropped", "reconnects.total", "requests.total", "connections.opened"):
        assert low <= m[key] <= high, (key, m[key], low, high)
    # every request ends with nothing, those still held at the window's end included
    assert m["requests.empty_fraction"] == 1.0
    assert m["connections.peak"] <= clients


def test_idle_timeout_with_traffic_keeps_the_books():
    m = _run(
        {
            "workload.rate": 0.03,
            "mechanism.hold": "30s",
            "cluster.idle_timeout": "10s",
            "workload.pattern": "topics",
            "workload.topics": 20,
        }
    )
    assert m["connections.dropped"] > 0
    assert m["deliveries.lost"] == 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.pending"]
    # a notification waits at most one backoff (<= 30 s cap) plus a reconnect
    assert m["latency.max"] < 31.0


def test_node_crash_drops_held_polls_and_loses_nothing():
    clients = BASE["clients.count"]
    m = _run(
        {
            "server.nodes": 2,
            "failures": [{"kind": "node_crash", "node": 0, "at": "120s", "duration": "30s"}],
        }
    )
    # Round robin put half the clients on node 0, each with its one kept-alive connection.
    assert m["connections.dropped"] == clients // 2
    assert m["reconnects.total"] == clients // 2  # node 1 is up: every first reconnect succeeds
    assert m["deliveries.lost"] == 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.pending"]


def test_crash_during_a_broadcast_write_keeps_events_pending(monkeypatch):
    # One slow worker per node writes a broadcast to 100 held polls (0.5 s each: 50 s of
    # writes); node 0 crashes 5 s after the publish.  The responses it never wrote must
    # leave their events pending in the log (the runner's books check would fail if they
    # vanished) and reach the clients after they reconnect to node 1.
    overrides = {
        "server.nodes": 2,
        "server.workers": 1,
        "server.message_cost": "500ms",
        "mechanism.hold": "300s",
        "workload.pattern": "broadcast",
        "workload.rate": 0.01,
        "workload.arrivals": "periodic",
        "experiment.seed": 3,
    }
    first = Simulation(load_config(None, {**BASE, **overrides})).log.next_time()
    cut = []
    process_many = ServerNode.process_many

    def spy(node, arrival, costs):
        finish = process_many(node, arrival, costs)
        cut.append(int((finish < 0).sum()))
        return finish

    monkeypatch.setattr(ServerNode, "process_many", spy)
    crash = {"kind": "node_crash", "node": 0, "at": f"{first + 5}s", "duration": "20s"}
    m = _run({**overrides, "failures": [crash]})
    assert cut[0] >= 80  # the crash did cut the burst
    assert m["deliveries.lost"] == 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.pending"]
    assert m["connections.dropped"] == BASE["clients.count"] // 2


def test_same_seed_same_metrics():
    overrides = {"workload.pattern": "broadcast", "cluster.idle_timeout": "3s", "server.nodes": 2}
    assert _run(overrides) == _run(overrides)


def test_a_kept_alive_request_costs_one_simpy_event():
    # Event economy (docs/design.md §7): a request over a kept-alive connection is one event (its
    # arrival at the node); a publish answers a held request inside the publisher's event,
    # and a hold that expires costs one timer wake-up.  Beyond that: one publisher event
    # per notification, each client's first connection, the sampler's windows.
    values = {**BASE, "experiment.warmup": "0s", "mechanism.hold": "5s"}
    result = run(load_config(None, values))
    m = result.metrics
    windows = 300
    expired = m["requests.total"] * m["requests.empty_fraction"]
    budget = m["requests.total"] + expired + m["deliveries.owed"] + BASE["clients.count"] + windows
    assert result.run["events_processed"] <= budget * 1.01 + 50
