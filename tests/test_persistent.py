"""The persistent-connection block: exact bulk fan-out, drops, storms, books, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.config import ConfigError, load_config
from simulator.engine.connections.accounting import spread
from simulator.engine.connections.sets import SubscriberSets
from simulator.engine.runner import run

BASE = {
    "experiment.duration": "30s",
    "experiment.warmup": "5s",
    "clients.count": 20,
    "clients.connect_over": "1s",
    "mechanism.kind": "websocket",
    "workload.rate": 1.0,
}


def metrics(**overrides):
    return run(load_config(None, {**BASE, **overrides})).metrics


@pytest.mark.parametrize("kind", ["sse", "websocket"])
@pytest.mark.parametrize("clients", [6, 100])  # the message-by-message and the array path
def test_broadcast_fan_out_gives_exact_per_client_latencies(kind, clients):
    # n subscribers, 2 workers, 1 ms per write: the burst's writes finish at
    # +1, +1, +2, +2, ..., +n/2 ms; every frame then crosses 10 ms of latency
    # plus its serialisation.  Mean and max are kept exactly by the histogram.
    payload = 100
    frame = payload + (2 if kind == "websocket" else 13 + 2)  # ws header; sse ids 10..40
    m = metrics(
        **{"mechanism.kind": kind, "clients.count": clients, "server.workers": 2,
           "server.message_cost": "1ms", "network.latency": "10ms", "network.bandwidth": "8Mbps",
           "workload.pattern": "broadcast", "workload.arrivals": "periodic",
           "workload.payload": f"{payload}B", "experiment.warmup": "9s", "experiment.duration": "20s"}
    )
    base = 0.010 + frame * 8 / 8e6
    offsets = (np.arange(clients) // 2 + 1) * 0.001
    assert m["deliveries.delivered"] == clients * 20
    assert m["latency.mean"] == pytest.approx(base + offsets.mean(), abs=1e-12)
    assert m["latency.max"] == pytest.approx(base + offsets.max(), abs=1e-12)
    median = np.quantile(offsets, 0.5, method="inverted_cdf")  # the histogram ranks ceil(q n)
    assert m["latency.p50"] == pytest.approx(base + median, rel=0.01)


@pytest.mark.parametrize("kind", ["sse", "websocket"])
@pytest.mark.parametrize("pattern", ["per_client", "broadcast", "topics"])
def test_books_balance_through_crashes_and_storms(kind, pattern):
    m = metrics(
        **{"mechanism.kind": kind, "workload.pattern": pattern, "workload.topics": 3, "clients.count": 60,
           "server.nodes": 3, "server.max_connections": 25, "experiment.duration": "40s",
           "network.latency": {"dist": "lognormal", "median": "20ms", "sigma": 0.5},
           "failures": [{"kind": "node_crash", "node": 1, "at": "10s", "duration": "8s"},
                        {"kind": "node_crash", "node": 0, "at": "25s", "duration": "3s"}]}
    )
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert m["connections.dropped"] > 0 and m["reconnects.total"] > 0
    assert m["connections.refused"] > 0  # 60 clients, 50 slots left while a node is down


def test_jitter_lowers_the_reconnect_peak():
    # 300 clients on 3 nodes; node 0 crashes and its 100 clients reconnect to the
    # other two at their first retry.  Without jitter all retry exactly 1 s
    # after the drop: one spike of 100 in one 0.1 s window (1,000/s).  Full
    # jitter draws each delay uniformly in [0, 1 s]: about 10 per window.
    dropped, step = 100, 0.1
    for seed in (1, 2, 3):
        peak = {}
        for jitter in ("none", "full"):
            m = metrics(
                **{"experiment.seed": seed, "clients.count": 3 * dropped, "server.nodes": 3,
                   "mechanism.backoff.jitter": jitter, "experiment.sample_every": f"{step}s",
                   "workload.rate": 0.2, "experiment.duration": "30s",
                   "failures": [{"kind": "node_crash", "node": 0, "at": "10s", "duration": "20s"}]}
            )
            assert m["reconnects.total"] == dropped  # every reconnect lands on a live node
            peak[jitter] = m["reconnects.peak_rate"]
        assert peak["none"] == pytest.approx(dropped / step)
        assert peak["full"] < 0.5 * peak["none"]


def test_idle_timeout_cuts_silent_connections_unless_heartbeats_are_shorter():
    common = {"cluster.idle_timeout": "10s", "workload.rate": 0.02, "experiment.duration": "60s"}
    cut = metrics(**common, **{"mechanism.heartbeat": "0s"})
    assert cut["connections.dropped"] > 0 and cut["reconnects.total"] > 0
    # with rate 0.02/s nearly every 10 s gap is silent: most clients are cut at least once
    assert cut["connections.dropped"] >= 20
    kept = metrics(**common, **{"mechanism.heartbeat": "5s"})
    assert kept["connections.dropped"] == 0


@pytest.mark.parametrize("heartbeat", ["0s", "15s"])
def test_idle_cut_cycle_without_data(heartbeat):
    # no data: a connection lives idle_timeout (the sweeper may look up to
    # idle/50 late), its client waits 1 s (jitter none, first retry) and the
    # set-up (TCP, TLS 1.3, Upgrade: 3 RTT, plus the request's one way).  A
    # heartbeat slower than the timeout comes too late to rescue it.
    idle, clients, duration = 10.0, 20, 120.0
    setup = 7 * 0.025 + 500 * 8 / 100e6
    m = metrics(
        **{"cluster.idle_timeout": f"{idle:g}s", "workload.rate": 0.0, "mechanism.heartbeat": heartbeat,
           "mechanism.backoff.jitter": "none", "experiment.duration": f"{duration:g}s"}
    )
    longest, shortest = idle + idle / 50 + 1 + setup, idle + 1 + setup
    assert clients * (duration // longest) <= m["connections.dropped"] <= clients * (duration // shortest + 1)
    assert m["reconnects.total"] == m["connections.opened"]


def test_same_seed_same_metrics():
    overrides = {
        "server.nodes": 2, "workload.pattern": "topics", "workload.topics": 4, "workload.upstream_rate": 0.2,
        "network.latency": {"dist": "exponential", "mean": "20ms"}, "mechanism.backoff.jitter": "decorrelated",
        "failures": [{"kind": "node_crash", "node": 1, "at": "12s", "duration": "5s"}],
    }
    assert metrics(**overrides) == metrics(**overrides)
    assert metrics(**overrides) != metrics(**{**overrides, "experiment.seed": 2})


def test_spread_conserves_and_places_amounts():
    out = np.zeros(2 * 5)  # two blocks (nodes) of five 1 s windows
    spread(out, 5, np.array([0, 5]), np.array([0.5, 1.0]), np.array([3.5, 1.0]), np.array([6.0, 2.0]), 1.0)
    # 6 over [0.5, 3.5]: 1 in window 0, 2 in windows 1 and 2, 1 in window 3; 2 inside window 1 of block 1
    assert out.tolist() == pytest.approx([1, 2, 2, 1, 0, 0, 2, 0, 0, 0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 19), st.integers(0, 5)), max_size=80))
def test_subscriber_sets_stay_consistent(ops):
    sets = SubscriberSets(20, 2, 3)
    where: dict[int, int] = {}
    for add, client, key in ops:
        if add and client not in where:
            sets.add(client, key)
            where[client] = key
        elif not add and client in where:
            sets.remove(client)
            del where[client]
    for key in range(6):
        assert sorted(sets.members(key).tolist()) == sorted(c for c, k in where.items() if k == key)
    sets.clear_node(0)
    assert all(len(sets.members(k)) == 0 for k in range(3))


@settings(max_examples=15, deadline=None)
@given(
    kind=st.sampled_from(["sse", "websocket"]),
    pattern=st.sampled_from(["per_client", "broadcast", "topics"]),
    nodes=st.integers(1, 3),
    clients=st.integers(1, 120),
    slots=st.integers(5, 80),
    idle=st.sampled_from(["0s", "3s"]),
    heartbeat=st.sampled_from(["0s", "2s", "15s"]),
    jitter=st.sampled_from(["none", "full", "equal", "decorrelated"]),
    resume=st.sampled_from([0, 3, 1000]),
    crashes=st.lists(st.tuples(st.integers(0, 2), st.floats(1, 30), st.floats(0.01, 8)), max_size=2),
    seed=st.integers(0, 50),
)
def test_books_balance_and_runs_repeat_for_random_configs(
    kind, pattern, nodes, clients, slots, idle, heartbeat, jitter, resume, crashes, seed
):
    overrides = {
        "mechanism.kind": kind, "workload.pattern": pattern, "workload.topics": 3, "server.nodes": nodes,
        "clients.count": clients, "server.max_connections": slots, "cluster.idle_timeout": idle,
        "mechanism.heartbeat": heartbeat, "mechanism.backoff.jitter": jitter, "experiment.seed": seed,
        "experiment.duration": "30s", "server.message_cost": {"dist": "exponential", "mean": "2ms"},
        "network.latency": {"dist": "lognormal", "median": "30ms", "sigma": 1.0},
    }
    if kind == "sse":
        overrides["mechanism.replay_buffer"] = resume
    else:
        overrides["mechanism.resume"] = resume > 0
        overrides["workload.upstream_rate"] = 0.5
    failures = [{"kind": "node_crash", "node": n % nodes, "at": f"{at}s", "duration": f"{d}s"} for n, at, d in crashes]
    if failures:
        overrides["failures"] = failures
    try:
        config = load_config(None, {**BASE, **overrides})
    except ConfigError:
        assume(False)  # overlapping crashes of one node are refused by the config
    first = run(config).metrics  # the runner raises if the books do not balance
    assert first == run(config).metrics


@pytest.mark.parametrize(("kind", "extra_round_trips"), [("sse", 0), ("websocket", 1)])
def test_first_connection_replays_nothing_so_a_window_opening_before_it_counts_losses(kind, extra_round_trips):
    # No failure at all.  A first connection carries no Last-Event-ID (no resume
    # point), so what its feed published before the client became a subscriber is
    # lost to it, whatever replay_buffer or resume say; the pollers' first request
    # reads the log from the start instead and gets it late.  All 20 clients start
    # at 0 and subscribe one set-up later: TCP + TLS 1.3 (+ the Upgrade) round
    # trips, the request's one-way trip and its 500 B at 100 Mbit/s.  Per-client
    # periodic feeds at 40/s with random phases: 5 or 6 events each before that.
    rate, clients = 40.0, 20
    setup = (2 * (2 + extra_round_trips) + 1) * 0.025 + 500 * 8 / 100e6
    workload = {"clients.count": clients, "clients.connect_over": "0s", "workload.arrivals": "periodic",
                "workload.rate": rate, "experiment.duration": "1s"}
    resume = {"mechanism.replay_buffer": 1000} if kind == "sse" else {"mechanism.resume": True}
    case = {**workload, **resume, "mechanism.kind": kind}
    m = metrics(**case, **{"experiment.warmup": "0s"})
    assert clients * np.floor(setup * rate) <= m["deliveries.lost"] <= clients * np.ceil(setup * rate)
    assert m["deliveries.lost"] + m["deliveries.delivered"] == m["deliveries.owed"]
    # the same run measured from after everyone subscribed: nothing is lost
    assert metrics(**case, **{"experiment.warmup": "0.5s"})["deliveries.lost"] == 0
    # long polling's first request gets the whole backlog: nothing lost, delivered late
    polled = metrics(**workload, **{"mechanism.kind": "long_polling", "experiment.warmup": "0s"})
    assert polled["deliveries.lost"] == 0
