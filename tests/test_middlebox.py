"""Middleboxes and dead peers: idle cuts that ignore pings, the platform's age limit,
a carrier NAT that forgets quiet connections, clients that notice a dead server late,
and the worst window's p99.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.config import load_config
from simulator.engine.runner import run

BASE = {
    "experiment.duration": "600s",
    "experiment.warmup": "0s",
    "clients.count": 20,
    "clients.connect_over": "1s",
    "workload.rate": 0.0,
    "mechanism.backoff.jitter": "none",  # every first retry exactly 1 s after the drop
}
CLIENTS, WINDOW = 20, 600.0
LATENCY = 0.025
# SSE set-up: TCP + TLS 1.3 (2 RTT) and the request's one way (+ 500 B at 100 Mbps);
# WebSocket adds the Upgrade's round trip.
SETUP = {"sse": 5 * LATENCY + 500 * 8 / 100e6, "websocket": 7 * LATENCY + 500 * 8 / 100e6}


def metrics(**overrides):
    result = run(load_config(None, {**BASE, **overrides}))
    m = result.metrics
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    return m


@pytest.mark.parametrize("kind", ["sse", "websocket"])
def test_pings_that_do_not_count_let_a_60s_balancer_cut_quiet_streams(kind):
    # Nothing is published; a heartbeat every 30 s.  ALB-style (pings do not
    # count), a 60 s idle timeout cuts every stream 60 s after it went live (the
    # sweeper may look up to 60/50 s late), the client is back 1 s + set-up later:
    # each client is cut once per cycle of 61-62.4 s.
    common = {"mechanism.kind": kind, "cluster.idle_timeout": "60s", "mechanism.heartbeat": "30s"}
    cut = metrics(**common, **{"cluster.heartbeats_reset_idle": False})
    shortest, longest = 60 + 1 + SETUP[kind], 60 + 60 / 50 + 1 + SETUP[kind]
    assert CLIENTS * math.floor(WINDOW / longest) <= cut["connections.dropped"]
    assert cut["connections.dropped"] <= CLIENTS * math.ceil(WINDOW / shortest)
    assert cut["reconnects.total"] == cut["connections.dropped"]
    # pings that count keep every quiet stream open, as before
    kept = metrics(**common)
    assert kept["connections.dropped"] == 0 and kept["reconnects.total"] == 0


@pytest.mark.parametrize("kind", ["sse", "websocket"])
def test_max_connection_age_closes_every_connection_that_old(kind):
    # The platform closes a connection 100 s after it went live; the client is
    # back 1 s + set-up later (the sweeper may look up to 100/50 s late).
    age = 100.0
    m = metrics(**{"mechanism.kind": kind, "cluster.max_connection_age": f"{age:g}s", "mechanism.heartbeat": "15s"})
    shortest, longest = age + 1 + SETUP[kind], age + age / 50 + 1 + SETUP[kind]
    assert CLIENTS * math.floor(WINDOW / longest) <= m["connections.aged_out"]
    assert m["connections.aged_out"] <= CLIENTS * math.ceil(WINDOW / shortest)
    assert m["reconnects.total"] == m["connections.aged_out"]
    assert m["connections.dropped"] == 0


def test_max_connection_age_renews_long_polls_kept_alive_connections():
    # Nothing published: every 30 s hold ends empty and the client asks again at
    # once on its kept-alive connection (75 s keep-alive).  A connection opened at
    # t0 carries requests sent at t0, t0 + setup + k * cycle; the one due at k = 4
    # (~120.3 s, the first past 100 s) finds it closed and opens a new one.  In
    # 540 s every client goes through 4 such connections (4 x 120.3 = 481 s).
    m = metrics(**{"mechanism.kind": "long_polling", "cluster.max_connection_age": "100s",
                   "experiment.duration": "540s"})
    lifetime = 3 * LATENCY + 4 * (30 + 2 * LATENCY + 0.001)
    assert m["connections.aged_out"] == CLIENTS * math.floor(540 / lifetime) == CLIENTS * 4
    assert m["connections.opened"] == CLIENTS * 5  # the first connection and one after each close
    assert m["reconnects.total"] == 0  # a fresh connection between requests, not a failure


@pytest.mark.parametrize("kind", ["sse", "websocket"])
def test_a_nat_timeout_shorter_than_the_heartbeat_leaves_half_open_connections(kind):
    # A NAT forgetting mappings idle 45 s, heartbeats every 60 s, an event every
    # 20 s per client on average (gaps over 45 s happen): connections go half-open.
    common = {"mechanism.kind": kind, "workload.rate": 0.05, "mechanism.heartbeat": "60s",
              "network.nat_timeout": "45s", "experiment.duration": "300s"}
    if kind == "websocket":
        common["mechanism.resume"] = True
    stuck = metrics(**common)
    assert stuck["connections.half_open_peak"] > 0
    # without dead_peer_timeout a stuck client never learns: what it misses stays owed
    assert stuck["deliveries.lost"] + stuck["deliveries.pending"] > 0
    assert stuck["reconnects.total"] == 0
    # with it the client reconnects dead_peer_timeout after the last traffic it got
    # (45 s after the expiry) and the resume replays the missed events, late
    back = metrics(**common, **{"network.dead_peer_timeout": "90s"})
    assert back["reconnects.total"] > 0
    assert back["deliveries.delivered"] > stuck["deliveries.delivered"]
    assert back["latency.max"] > 30  # replayed tens of seconds late, after the client noticed
    # plain WebSocket (no resume) loses what was written into the dead connection
    if kind == "websocket":
        plain = metrics(**{**common, "mechanism.resume": False}, **{"network.dead_peer_timeout": "90s"})
        assert plain["deliveries.lost"] > 0


@pytest.mark.parametrize("kind", ["sse", "websocket"])
def test_a_nat_timeout_longer_than_the_heartbeat_changes_nothing(kind):
    common = {"mechanism.kind": kind, "workload.rate": 0.05, "mechanism.heartbeat": "30s",
              "experiment.duration": "300s"}
    assert metrics(**common, **{"network.nat_timeout": "45s"}) == metrics(**common)


def test_half_open_connections_hold_server_slots_until_the_server_gives_up():
    # SSE without data: the mapping expires 45 s after the stream went live; the
    # server's next write is the 60 s heartbeat, which it retransmits for 924.6 s
    # (Linux tcp_retries2 = 15) before it drops the connection.  Meanwhile the
    # client noticed (dead_peer_timeout 50 s: 5 s after the expiry) and holds a
    # second connection: 2 connections per client on the server.
    m = metrics(**{"mechanism.kind": "sse", "mechanism.heartbeat": "60s", "network.nat_timeout": "45s",
                   "network.dead_peer_timeout": "50s", "experiment.duration": "180s"})
    # one cycle: live 45 s, noticed 5 s later, back 1 s + set-up: ~51.1 s; mappings
    # expire at 45, 96.1, 147.3 s (the next at 198.4 s): by 180 s each client left
    # 3 half-open connections the server still holds (until 60 + 924.6 s after each).
    assert m["connections.half_open_peak"] == 3 * CLIENTS
    assert m["connections.peak"] == 4 * CLIENTS


def test_a_websocket_server_drops_a_half_open_connection_at_the_ping_after_the_unanswered_one():
    # Heartbeat 60 s, NAT 45 s, dead_peer 50 s: a connection live at ~0.2-1.2 s goes
    # half-open at ~45.2 s; the ping at ~60.2 s gets no pong, the one at ~120.2 s finds
    # it missing and the server drops it.  The client noticed at ~50.2 s and its next
    # connection (live ~51.4 s) goes half-open at ~96.4 s, dropped at ~171.4 s; the
    # third at ~147.6 s.  At most 2 half-open connections per client at once (by 180 s).
    m = metrics(**{"mechanism.kind": "websocket", "mechanism.heartbeat": "60s", "network.nat_timeout": "45s",
                   "network.dead_peer_timeout": "50s", "experiment.duration": "180s"})
    assert m["connections.half_open_peak"] == 2 * CLIENTS
    assert m["connections.peak"] == 3 * CLIENTS


@pytest.mark.parametrize("kind", ["sse", "websocket", "long_polling"])
def test_dead_peer_timeout_delays_noticing_a_crash(kind):
    # Node 0 of 2 crashes at 60 s for good; its clients learn only dead_peer_timeout
    # after the last traffic they got (SSE/WebSocket: data or a 15 s heartbeat;
    # long polling: their held request), then reconnect to node 1 and get the
    # missed events (replay, resume, the log).  The first deliveries after the
    # crash are late by about that much more.
    dead = 60.0
    common = {"mechanism.kind": kind, "server.nodes": 2, "workload.rate": 0.2, "experiment.duration": "180s",
              "experiment.warmup": "10s",  # events before a client's first connection are not its own
              "failures": [{"kind": "node_crash", "node": 0, "at": "60s", "duration": "1000s"}]}
    if kind in ("sse", "websocket"):
        common["mechanism.heartbeat"] = "15s"
    if kind == "websocket":
        common["mechanism.resume"] = True
    instant = metrics(**common)
    late = metrics(**common, **{"network.dead_peer_timeout": f"{dead:g}s"})
    assert instant["deliveries.lost"] == late["deliveries.lost"] == 0
    assert instant["latency.max"] < 2
    # last traffic at most a heartbeat (or, long polling, one short hold) before the crash
    slack = 15.0 if kind != "long_polling" else 30.0
    assert dead - slack <= late["latency.max"] - instant["latency.max"] <= dead + 0.5
    assert late["latency.p99_worst_window"] > dead - slack


@pytest.mark.parametrize("pattern", ["per_client", "broadcast", "topics"])
@pytest.mark.parametrize("kind", ["sse", "websocket", "long_polling"])
def test_books_balance_with_every_middlebox_at_once(kind, pattern):
    # a 30 s heartbeat: slower than the 25 s NAT, so SSE and WebSocket go half-open
    heartbeat = {} if kind == "long_polling" else {"mechanism.heartbeat": "30s"}
    m = metrics(
        **heartbeat,
        **{"mechanism.kind": kind, "server.nodes": 3, "server.max_connections": 12, "workload.rate": 0.1,
           "workload.pattern": pattern, "workload.topics": 3, "experiment.duration": "240s",
           "experiment.warmup": "20s", "mechanism.backoff.jitter": "full",
           "cluster.idle_timeout": "50s", "cluster.heartbeats_reset_idle": False,
           "cluster.max_connection_age": "70s", "network.nat_timeout": "25s",
           "network.dead_peer_timeout": "40s",
           "failures": [{"kind": "node_crash", "node": 1, "at": "80s", "duration": "30s"}]}
    )
    assert m["deliveries.owed"] > 0 and m["reconnects.total"] > 0
    assert m["connections.aged_out"] > 0 and m["connections.dropped"] > 0
    if kind != "long_polling" and pattern != "broadcast":  # a broadcast every ~10 s keeps mappings
        assert m["connections.half_open_peak"] > 0


def test_worst_window_p99_is_the_highest_window_p99_of_the_time_series():
    overrides = {"mechanism.kind": "sse", "server.nodes": 2, "workload.rate": 0.5, "experiment.duration": "120s",
                 "experiment.warmup": "10s", "network.dead_peer_timeout": "20s",
                 "failures": [{"kind": "node_crash", "node": 0, "at": "60s", "duration": "100s"}]}
    result = run(load_config(None, {**BASE, **overrides}))
    m = result.metrics
    series = np.asarray(result.timeseries["latency_p99"])
    step = result.config.experiment.sample_every
    t_start, t_end = 10.0, 130.0
    first, end = math.ceil(t_start / step), math.floor(t_end / step)
    measured = series[first:end]
    assert m["latency.p99_worst_window"] == np.nanmax(measured)
    assert m["latency.p99_worst_window"] > 10 * m["latency.p50"]  # the crash's window stands out
    # a quiet run: every window's p99 is the one-way latency (within the 10 % buckets)
    calm = metrics(**{"mechanism.kind": "sse", "workload.rate": 0.5, "experiment.duration": "60s"})
    assert calm["latency.p99_worst_window"] == pytest.approx(calm["latency.p99"], rel=0.1)
