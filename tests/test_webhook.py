"""Webhooks against protocol facts and their retry arithmetic.

With constant latency L and provider cost c, a refused attempt is seen by the
provider c + 2L after it takes the delivery up (SYN there, RST back), and
retry k starts ``backoff.delay(k - 1)`` after that.  So the SYN of attempt
k + 1 comes L + delay + c + L after attempt k's: a delivery published at t is
lost exactly when every SYN falls inside the receiver's outage.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from models.webhook import Webhook
from simulator.config import load_config
from simulator.engine.runner import run
from simulator.engine.simulation import Simulation
from simulator.engine.summary import build_metrics, check_books

L, COST = 0.025, 0.001
BASE: dict[str, Any] = {
    "experiment.duration": "300s",
    "experiment.warmup": "30s",
    "clients.count": 100,
    "mechanism.kind": "webhook",
    "workload.pattern": "per_client",
    "workload.rate": 0.1,
    "network.latency": f"{L}s",
    "server.request_cost": f"{COST}s",
}


def _config(overrides: dict[str, Any]):
    return load_config(None, {**BASE, **overrides})


def _traced(overrides: dict[str, Any]) -> tuple[dict[str, float], list]:
    """Run with the attempt trace on; (metrics, trace). Books checked as the runner does."""
    sim = Simulation(_config(overrides))
    mech = Webhook(sim)
    mech.trace = []
    mech.start()
    sim.env.run(until=sim.t_end)
    metrics = build_metrics(sim, mech.pending())
    check_books(metrics)
    return metrics, mech.trace


def _retry_delays(trace: list, max_attempts: int) -> dict[int, list[tuple[float, float]]]:
    """Per retry number k >= 1: (delay before it, previous delay) pairs from the trace."""
    by_delivery = defaultdict(list)
    for receiver, published, attempt, start, outcome, seen in trace:
        by_delivery[(receiver, published)].append((attempt, start, outcome, seen))
    out: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for attempts in by_delivery.values():
        attempts.sort()
        previous = 0.0
        for (k0, _, outcome, seen), (k1, start, _, _) in zip(attempts, attempts[1:], strict=False):
            assert k1 == k0 + 1 and outcome == "refused"
            delay = start - seen
            out[k1].append((delay, previous))
            previous = delay
    assert max(out) == max_attempts - 1
    return out


def _all_down(jitter: str, **backoff: str) -> dict[str, Any]:
    overrides = {
        "mechanism.max_attempts": 6,
        "mechanism.backoff.jitter": jitter,
        "mechanism.backoff.initial": "1s",
        "mechanism.backoff.max": "8s",
        "failures": [{"kind": "receiver_outage", "fraction": 1.0, "at": "0s", "duration": "1h"}],
    }
    overrides.update({f"mechanism.backoff.{k}": v for k, v in backoff.items()})
    return overrides


def test_retries_follow_the_schedule_without_jitter():
    m, trace = _traced(_all_down("none"))
    for _, _, _, start, outcome, seen in trace:
        assert outcome == "refused"
        assert seen - start >= COST + 2 * L - 1e-12  # provider work, SYN, RST
    for k, pairs in _retry_delays(trace, 6).items():
        expected = min(8.0, 1.0 * 2.0 ** (k - 1))
        assert np.allclose([d for d, _ in pairs], expected, rtol=0, atol=1e-9), k
    assert m["deliveries.delivered"] == 0 and m["deliveries.duplicates"] == 0
    assert m["webhook.gave_up"] == m["deliveries.lost"] > 0


def test_full_and_equal_jitter_stay_in_bounds_with_the_right_mean():
    for jitter, low, mean in (("full", 0.0, 0.5), ("equal", 0.5, 0.75)):
        _, trace = _traced(_all_down(jitter))
        for k, pairs in _retry_delays(trace, 6).items():
            ceiling = min(8.0, 2.0 ** (k - 1))
            ratio = np.array([d for d, _ in pairs]) / ceiling
            assert ratio.min() >= low - 1e-9 and ratio.max() <= 1 + 1e-9, (jitter, k)
            half = 4 * ratio.std(ddof=1) / math.sqrt(len(ratio))
            assert abs(ratio.mean() - mean) <= half, (jitter, k, ratio.mean())


def test_decorrelated_jitter_feeds_on_the_previous_delay():
    _, trace = _traced(_all_down("decorrelated"))
    for pairs in _retry_delays(trace, 6).values():
        for delay, previous in pairs:
            upper = min(8.0, 3 * (previous if previous > 0 else 1.0))
            assert 1.0 - 1e-9 <= delay <= upper + 1e-9


def _receiver(cost: float, timeout: float, attempts: int) -> dict[str, Any]:
    return {
        "mechanism.timeout": f"{timeout}s",
        "mechanism.receiver_cost": f"{cost}s",
        "mechanism.receiver_workers": 8,
        "mechanism.max_attempts": attempts,
        "mechanism.backoff.jitter": "none",
        "mechanism.backoff.initial": "1s",
        "mechanism.backoff.max": "1s",
        "http.tls": "none",
    }


def test_a_receiver_faster_than_the_timeout_gets_no_duplicates():
    # Response time <= handshake (2L) + L + cost + L = 0.6 s < 1 s: never retried.
    m = run(_config(_receiver(0.5, 1.0, 3))).metrics
    assert m["deliveries.duplicates"] == 0 and m["webhook.retries"] == 0
    assert m["webhook.gave_up"] == 0 and m["deliveries.lost"] == 0
    assert m["webhook.attempts"] == m["requests.total"]
    # latency = provider cost + one way (+ the handshake on a fresh connection: the 10 s gap
    # between a receiver's deliveries is well inside keep_alive_timeout, so most reuse it)
    post = (500 + 200) * 8 / 100e6
    assert abs(m["latency.p50"] - (COST + L + post)) <= 0.01 * (COST + L)


def test_a_receiver_slower_than_the_timeout_processes_every_copy():
    # cost 1.05 s > timeout 1 s: every attempt times out yet is processed, so each delivery
    # reaches its receiver max_attempts times; only deliveries near the end see fewer.
    attempts = 3
    m = run(_config(_receiver(1.05, 1.0, attempts))).metrics
    delivered, dups = m["deliveries.delivered"], m["deliveries.duplicates"]
    span = attempts * (1.0 + 1.0)  # timeout + backoff per attempt, s
    assert (attempts - 1) * delivered * (1 - 2 * span / 300) <= dups <= (attempts - 1) * delivered
    assert m["deliveries.lost"] == 0  # gave up, but an earlier copy was processed
    assert m["webhook.gave_up"] >= delivered * (1 - 2 * span / 300)
    assert m["webhook.retries"] >= (attempts - 1) * delivered * (1 - 2 * span / 300)


def _publish_times(overrides: dict[str, Any]) -> np.ndarray:
    """Every publish time up to the end, from the same seeded event log (per-client feeds)."""
    log = Simulation(_config(overrides)).log
    times = []
    while (t := log.next_time()) <= log.metrics.t_end:
        times.append(t)
        log.advance(t)
    return np.array(times)


def test_gives_up_exactly_when_the_outage_outlasts_the_schedule():
    # Every receiver down over [100 s, 220 s); 4 attempts with delays 2, 4, 8 s.  A delivery
    # published at t has SYNs at t + c + L + sum of the first k (2L + c + delay) terms; it is
    # lost (and given up) exactly when all four fall inside the outage.
    start, end = 100.0, 220.0
    overrides = {
        "mechanism.max_attempts": 4,
        "mechanism.backoff.jitter": "none",
        "mechanism.backoff.initial": "2s",
        "mechanism.backoff.max": "60s",
        "failures": [{"kind": "receiver_outage", "fraction": 1.0, "at": f"{start}s", "duration": "120s"}],
    }
    m = run(_config(overrides)).metrics
    t = _publish_times(overrides)
    first_syn = t + COST + L
    last_syn = first_syn + 3 * (2 * L + COST) + (2 + 4 + 8)
    expected = int(((first_syn >= start) & (last_syn < end) & (t >= 30.0)).sum())
    assert expected > 500
    assert m["deliveries.lost"] == m["webhook.gave_up"] == expected
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]


def test_books_balance_through_a_partial_outage_and_losses_match_theory():
    # 30 % of 200 receivers down for D = 120 s; full jitter, 5 attempts.  A delivery to a down
    # receiver is lost iff its first SYN is in [at, at + D - S'), S' = 4 (2L + c) + sum of the
    # four delays, E[delay k] = ceiling / 2: E[lost] = λ N_down (D - E[S']).
    n, lam, down, duration = 200, 0.2, 60, 120.0
    overrides = {
        "clients.count": n,
        "workload.rate": lam,
        "mechanism.max_attempts": 5,
        "failures": [{"kind": "receiver_outage", "fraction": 0.3, "at": "100s", "duration": f"{duration}s"}],
    }
    m = run(_config(overrides)).metrics
    span = 4 * (2 * L + COST) + (1 + 2 + 4 + 8) / 2
    expected = lam * down * (duration - span)
    assert abs(m["deliveries.lost"] - expected) <= 4 * math.sqrt(expected)
    assert m["webhook.gave_up"] == m["deliveries.lost"]
    assert m["deliveries.duplicates"] == 0
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert m["connections.refused"] > 0
    # every attempt is a POST received or a refused connection (up to the window's edges)
    assert abs(m["webhook.attempts"] - m["requests.total"] - m["connections.refused"]) <= n


def test_outage_receivers_are_a_seeded_fraction():
    outage = [{"kind": "receiver_outage", "fraction": 0.25, "at": "0s", "duration": "1m"}]
    a = Webhook(Simulation(_config({"clients.count": 400, "failures": outage})))
    b = Webhook(Simulation(_config({"clients.count": 400, "failures": outage})))
    assert a.receivers.down_count(30.0) == 100 == b.receivers.down_count(30.0)
    assert [a.receivers.down(r, 30.0) for r in range(400)] == [b.receivers.down(r, 30.0) for r in range(400)]
    assert a.receivers.down_count(61.0) == 0


def test_same_seed_same_metrics():
    overrides = {
        "workload.pattern": "topics",
        "workload.topics": 10,
        "failures": [{"kind": "receiver_outage", "fraction": 0.5, "at": "60s", "duration": "60s"}],
    }
    assert run(_config(overrides)).metrics == run(_config(overrides)).metrics


def test_an_attempt_costs_at_most_two_simpy_events():
    # A first POST is one event (it reaching the receiver), a retry one more (the provider's
    # wake-up); a refused attempt none at the receiver.  Plus one publisher event per
    # notification and the sampler's windows.
    overrides = {
        "experiment.warmup": "0s",
        "failures": [{"kind": "receiver_outage", "fraction": 0.5, "at": "60s", "duration": "60s"}],
    }
    result = run(_config(overrides))
    m = result.metrics
    budget = m["deliveries.owed"] + m["webhook.attempts"] + m["webhook.retries"] + 300
    assert result.run["events_processed"] <= budget + 50
    assert result.run["events_processed"] >= m["deliveries.owed"] + m["requests.total"]
