"""WebSocket against RFC 6455 facts and the loss rule (lost while down unless resume)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from models.websocket import frame_bytes, header_bytes
from simulator.config import load_config
from simulator.engine.http import TLS_ROUND_TRIPS
from simulator.engine.runner import run

BASE = {
    "experiment.duration": "30s",
    "experiment.warmup": "5s",
    "clients.count": 20,
    "clients.connect_over": "1s",
    "mechanism.kind": "websocket",
    "workload.rate": 1.0,
    "workload.arrivals": "periodic",
}


def metrics(**overrides):
    return run(load_config(None, {**BASE, **overrides})).metrics


@pytest.mark.parametrize(
    ("payload", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (2**20, 10)]
)
def test_header_sizes_follow_rfc6455_length_encoding(payload, header):
    # RFC 6455 §5.2: 7-bit length up to 125; 126 -> 16-bit extended; 127 -> 64-bit extended.
    assert header_bytes(payload) == header
    assert frame_bytes(payload, masked=True) == header + 4 + payload


@pytest.mark.parametrize("payload", [125, 126, 65535, 65536])
def test_bytes_down_per_delivery_is_header_plus_payload(payload):
    # heartbeats off and every connection opened in the warm-up: the window's
    # downstream bytes are the data frames alone.
    m = metrics(**{"workload.payload": f"{payload}B", "mechanism.heartbeat": "0s"})
    assert m["messages.pushed"] > 0
    assert m["network.bytes_down"] == m["messages.pushed"] * (header_bytes(payload) + payload)
    assert m["network.bytes_up"] == 0


def test_ping_pong_bytes_and_count():
    # each heartbeat: a 2 B ping down, a 6 B masked pong up; every live
    # connection pings every 30 s from the moment it went live.
    hb, duration, clients = 30.0, 300.0, 20
    m = metrics(
        **{"workload.rate": 0.0, "experiment.duration": f"{duration:g}s", "mechanism.heartbeat": f"{hb:g}s"}
    )
    assert m["network.bytes_down"] == 2 * m["messages.heartbeats"]
    assert m["network.bytes_up"] == 6 * m["messages.heartbeats"]
    # a connection live over the whole window fits floor or ceil of duration/hb pings
    assert clients * math.floor(duration / hb) <= m["messages.heartbeats"] <= clients * math.ceil(duration / hb)


def test_upstream_messages_are_poisson_and_masked():
    rate, clients, duration, payload = 0.5, 20, 30.0, 200
    m = metrics(**{"workload.upstream_rate": rate, "mechanism.heartbeat": "0s", "workload.rate": 0.0})
    n = m["messages.upstream"]
    expected = rate * clients * duration
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], expected)
    assert lo <= n <= hi
    assert m["network.bytes_up"] == n * (header_bytes(payload) + 4 + payload)


def _crash_run(resume: bool, clients: int = 10) -> dict[str, float]:
    # one node down from 20 s to 40 s; with jitter none every client retries at
    # +1, +3, +7, +15 s (refused: the node is down) and connects at +31 s.
    return metrics(
        **{
            "clients.count": clients,
            "workload.pattern": "broadcast",
            "experiment.duration": "60s",
            "mechanism.resume": resume,
            "mechanism.backoff.jitter": "none",
            "failures": [{"kind": "node_crash", "node": 0, "at": "20s", "duration": "20s"}],
        }
    )


def test_without_resume_loses_what_was_published_while_down():
    clients = 10
    m = _crash_run(False, clients)
    latency = 0.025
    rtts = 1 + TLS_ROUND_TRIPS["1.3"] + 1  # TCP, TLS 1.3, the Upgrade
    down = 31.0 + (2 * rtts + 1) * latency + 500 * 8 / 100e6  # drop until the server has it again
    # a 1/s periodic broadcast puts floor or ceil of `down` events in that span, per client
    assert clients * math.floor(down) <= m["deliveries.lost"] <= clients * math.ceil(down)
    assert m["reconnects.total"] == clients * 5  # four refused retries and the one that connects
    assert m["connections.dropped"] == clients


def test_with_resume_loses_nothing():
    m = _crash_run(True)
    assert m["deliveries.lost"] == 0
    assert m["deliveries.delivered"] + m["deliveries.pending"] == m["deliveries.owed"]
    # the replayed events are late by about the outage
    assert m["latency.max"] > 30.0


def test_heartbeat_and_upstream_cpu_is_message_cost_per_frame():
    # ping written + pong read = 2 message_cost per heartbeat; upstream 1 each.
    # Spread evenly over each connection's life, so the window's busy fraction
    # is the rate times the cost, per worker.
    clients, hb, cost, up, workers = 200, 10.0, 0.001, 0.5, 4
    m = metrics(
        **{"clients.count": clients, "workload.rate": 0.0, "mechanism.heartbeat": f"{hb:g}s",
           "server.message_cost": f"{cost * 1e3:g}ms", "workload.upstream_rate": up,
           "experiment.duration": "100s"}
    )
    expected = clients * (2 / hb + up) * cost / workers
    assert m["server.cpu_utilization"] == pytest.approx(expected, rel=0.03)
