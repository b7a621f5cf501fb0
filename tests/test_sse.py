"""SSE against the event-stream format and the Last-Event-ID replay rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.sse import EVENT_OVERHEAD, HEARTBEAT_BYTES, event_bytes
from simulator.config import load_config
from simulator.engine.http import TLS_ROUND_TRIPS
from simulator.engine.runner import run

BASE = {
    "experiment.duration": "30s",
    "experiment.warmup": "5s",
    "clients.count": 20,
    "clients.connect_over": "1s",
    "mechanism.kind": "sse",
    "workload.rate": 1.0,
    "workload.arrivals": "periodic",
}


def metrics(**overrides):
    return run(load_config(None, {**BASE, **overrides})).metrics


def test_event_block_bytes():
    # "id: 9\n" (6) + "data: " + payload + "\n" + "\n": payload + 14 for a one-digit id
    payload = 200
    block = f"id: {9}\ndata: {'x' * payload}\n\n".encode()
    assert event_bytes(payload, np.array([8]))[0] == len(block)  # seq 8 carries id 9
    block = f"id: {10}\ndata: {'x' * payload}\n\n".encode()
    assert event_bytes(payload, np.array([9]))[0] == len(block)
    assert event_bytes(payload, np.array([999, 1000])).tolist() == [payload + 13 + 4, payload + 13 + 4]
    assert EVENT_OVERHEAD == len(b"id: \ndata: \n\n")
    assert HEARTBEAT_BYTES == len(b":\n\n")


@pytest.mark.parametrize(("warmup", "digits"), [("2s", 1), ("15s", 2)])
def test_bytes_down_per_delivery_is_the_event_block(warmup, digits):
    # 1/s per feed: ids in the window stay within one digit count (ids 3..8, 16..21).
    m = metrics(
        **{"experiment.warmup": warmup, "experiment.duration": "5s", "mechanism.heartbeat": "0s",
           "clients.connect_over": "0.5s"}
    )
    assert m["messages.pushed"] > 0
    assert m["network.bytes_down"] == m["messages.pushed"] * (200 + EVENT_OVERHEAD + digits)


def test_heartbeat_comments_every_15s():
    m = metrics(**{"workload.rate": 0.0, "experiment.duration": "150s"})
    assert 20 * 10 <= m["messages.heartbeats"] <= 20 * 11
    assert m["network.bytes_down"] == HEARTBEAT_BYTES * m["messages.heartbeats"]


def test_push_latency_is_one_way_latency_plus_service():
    # Poisson per-client feeds, exponential link latency: mean = E[latency] +
    # serialisation + message_cost + queue wait, the wait bounded by M/D/1 at the
    # same arrival rate (4 workers wait less than one).
    clients, rate, cost, mean_lat = 200, 0.5, 50e-6, 0.025
    m = metrics(
        **{"clients.count": clients, "workload.arrivals": "poisson", "workload.rate": rate,
           "network.latency": {"dist": "exponential", "mean": "25ms"}, "experiment.duration": "60s"}
    )
    n = m["deliveries.delivered"]
    frame = 200 + EVENT_OVERHEAD + 2  # ids are 1-2 digits here (up to ~40 per feed)
    theory = mean_lat + frame * 8 / 100e6 + cost
    rho = clients * rate * cost
    wait_bound = rho * cost / (2 * (1 - rho))
    half = stats.norm.ppf(0.9995) * mean_lat / math.sqrt(n)  # exponential: sd = mean
    assert theory - half - 8 / 100e6 <= m["latency.mean"] <= theory + wait_bound + half


def _crash_run(replay_buffer: int, clients: int = 20) -> dict[str, float]:
    # per-client periodic feeds; the only node is down 20 s .. 40 s; with jitter
    # none every client retries at +1, +3, +7, +15 s (refused) and gets back at +31 s.
    return metrics(
        **{
            "clients.count": clients,
            "experiment.duration": "60s",
            "mechanism.replay_buffer": replay_buffer,
            "mechanism.backoff.jitter": "none",
            "failures": [{"kind": "node_crash", "node": 0, "at": "20s", "duration": "20s"}],
        }
    )


def test_replay_within_the_buffer_loses_nothing():
    m = _crash_run(100)
    assert m["deliveries.lost"] == 0
    assert m["latency.max"] > 30.0  # the replayed events waited for the reconnect


def test_replay_loses_exactly_the_overflow_beyond_the_buffer():
    clients, buffer = 20, 10
    rtts = 1 + TLS_ROUND_TRIPS["1.3"]
    down = 31.0 + (2 * rtts + 1) * 0.025 + 500 * 8 / 100e6
    missed = _crash_run(0, clients)["deliveries.lost"]  # no resume: everything missed is lost
    assert clients * math.floor(down) <= missed <= clients * math.ceil(down)
    # with a buffer of 10 each client gets its 10 newest back: exactly 10 fewer lost each
    assert _crash_run(buffer, clients)["deliveries.lost"] == missed - clients * buffer
