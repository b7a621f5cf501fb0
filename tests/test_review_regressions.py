"""Regressions found in review: each test pins one bug that made a number wrong."""

from __future__ import annotations

from collections import Counter

from simulator import load_config, run
from simulator.engine.simulation import Simulation

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


def test_cpu_utilization_does_not_depend_on_sample_every():
    """Busy time before ``t_start`` must not count, even when t_start is inside a sample window.

    80 clients polling every 1 s at 5 ms a request on one worker keep it 40 % busy;
    with a 30 s warm-up and 7 s windows, the window [28 s, 35 s) used to bring 2 s of
    warm-up busy time into the mean (0.413).  Persistent connections' heartbeat and
    upstream CPU (settled in bulk) must not leak either.
    """
    polls = {
        **BASE,
        "experiment.warmup": "30s",
        "clients.count": 80,
        "mechanism.interval": "1s",
        "server.request_cost": "5ms",
        "server.workers": 1,
    }
    for every in ("1s", "7s"):
        m = run(load_config(None, {**polls, "experiment.sample_every": every})).metrics
        assert abs(m["server.cpu_utilization"] - 0.4) < 0.004, every
    ws = {
        **BASE,
        "experiment.warmup": "30s",
        "mechanism.kind": "websocket",
        "workload.upstream_rate": 2.0,
        "mechanism.heartbeat": "5s",
        "server.message_cost": "2ms",
    }
    cpu = [
        run(load_config(None, {**ws, "experiment.sample_every": every})).metrics["server.cpu_utilization"]
        for every in ("1s", "7s")
    ]
    assert abs(cpu[0] - cpu[1]) < 1e-9 * cpu[0]


def test_back_to_back_crashes_keep_the_node_down():
    """A crash starting exactly when the previous one ends (accepted by validation) keeps the
    node down for its whole duration; the first crash's recovery used to bring it back up."""
    sim = Simulation(
        load_config(
            None,
            {
                **BASE,
                "server.nodes": 2,
                "failures": [
                    {"kind": "node_crash", "node": 0, "at": "20s", "duration": "5s"},
                    {"kind": "node_crash", "node": 0, "at": "25s", "duration": "10s"},
                ],
            },
        )
    )
    node = sim.cluster.nodes[0]
    for t, up in ((22, False), (26, False), (34, False), (36, True)):
        sim.env.run(until=t)
        assert node.up is up, t


def test_window_start_is_marked_when_it_falls_in_the_last_sample_window():
    """With one sample window (sample_every > warmup + duration), the peak must still start
    from the connections open at t_start.  300 SSE clients are all connected at t_start;
    a crash then drops node 0's half for good (backoff longer than the run).  The peak
    is 300; it used to be 150 (the value at t_end), below the 162.5 mean."""
    m = run(
        load_config(
            None,
            {
                **BASE,
                "experiment.warmup": "30s",
                "experiment.sample_every": "100s",
                "clients.count": 300,
                "mechanism.kind": "sse",
                "server.nodes": 2,
                "mechanism.backoff.initial": "200s",
                "mechanism.backoff.max": "200s",
                "mechanism.backoff.jitter": "none",
                "failures": [{"kind": "node_crash", "node": 0, "at": "35s", "duration": "200s"}],
            },
        )
    ).metrics
    assert m["connections.peak"] == 300
    assert m["connections.peak"] >= m["connections.mean"]


def test_polling_counts_refusals_and_reconnects_while_the_only_node_is_down():
    """Every attempt while no node is up is refused (the balancer's 503) and, after a drop,
    is a reconnect, as SSE and WebSocket count them: so reconnects - refused = the drops
    (each client's one successful reconnect).  Short polling at a fixed 2 s interval makes
    exactly 10 attempts in a 20 s outage: 100 clients give 1,000 refusals.  Polling counted
    no refusals at all, and short polling only the first attempt as a reconnect."""
    crash = {
        **BASE,
        "clients.count": 100,
        "mechanism.interval": "2s",
        "failures": [{"kind": "node_crash", "node": 0, "at": "20s", "duration": "20s"}],
    }
    for kind in ("short_polling", "long_polling", "sse"):
        overrides = crash if kind == "short_polling" else {k: v for k, v in crash.items() if k != "mechanism.interval"}
        m = run(load_config(None, {**overrides, "mechanism.kind": kind})).metrics
        assert m["connections.dropped"] == 100, kind
        assert m["reconnects.total"] - m["connections.refused"] == 100, kind
        if kind == "short_polling":
            assert m["connections.refused"] == 1000
