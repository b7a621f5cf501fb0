"""Per-mechanism server costs: server.websocket_message_cost and server.held_response_cost.

Each case is a short run whose busy CPU seconds in the window are pure arithmetic:
one worker, no idle_cpu, zero latency (a held poll's answer and the next request
meet at the node at once), so busy = sum of the costs charged in the window.
"""

from __future__ import annotations

import pytest

from simulator.config import load_config
from simulator.engine.runner import run

REQUEST = 0.001  # request_cost, seconds
MESSAGE = 0.0002  # message_cost
FRAME = 0.00005  # websocket_message_cost
HELD = 0.0007  # held_response_cost
CLIENTS = 20
DURATION = 10.0

BASE = {
    "experiment.seed": 5, "experiment.warmup": 0, "experiment.duration": DURATION, "experiment.drain": "3s",
    "clients.count": CLIENTS, "clients.connect_over": "0.1s", "workload.rate": 1.0,
    "network.latency": 0, "network.bandwidth": "100Gbps", "http.keep_alive_timeout": "10h",
    "server.workers": 1, "server.request_cost": REQUEST, "server.message_cost": MESSAGE,
}


def _busy(metrics) -> float:
    return metrics["server.cpu_utilization"] * DURATION  # one worker, idle_cpu = 0


def _long_poll(**server):
    values = {**BASE, "mechanism.kind": "long_polling", "mechanism.hold": "2s"}
    values.update({f"server.{k}": v for k, v in server.items()})
    return run(load_config(None, values)).metrics


def test_each_held_poll_answered_costs_held_response_cost_else_message_cost():
    # Every request is held (the previous answer took all that was pending, the next request
    # arrives with no delay) and answered once, by news or by its hold running out; at the
    # window's end every client's poll is held, its answer after the window.  So the window
    # has requests.total request costs and requests.total - CLIENTS answers.
    for held, answer in ((HELD, HELD), (None, MESSAGE)):
        m = _long_poll(**({"held_response_cost": held} if held is not None else {}))
        requests = m["requests.total"]
        assert requests > 10 * CLIENTS
        expected = requests * REQUEST + (requests - CLIENTS) * answer
        # a request or answer cut in two by the window's end leaves out less than one of each
        assert _busy(m) == pytest.approx(expected, abs=REQUEST + answer)


def test_held_response_cost_set_to_message_cost_changes_nothing():
    assert _long_poll(held_response_cost=MESSAGE) == _long_poll()


def _stream(kind: str, heartbeat: float, **server):
    values = {**BASE, "mechanism.kind": kind, "mechanism.heartbeat": heartbeat}
    values.update({f"server.{k}": v for k, v in server.items()})
    return run(load_config(None, values)).metrics


def test_websocket_frames_cost_websocket_message_cost_sse_events_message_cost():
    # one opening request per client (all in the window), then one write per pushed frame
    ws = _stream("websocket", 0, websocket_message_cost=FRAME)
    assert ws["requests.total"] == CLIENTS and ws["messages.pushed"] > 100
    assert _busy(ws) == pytest.approx(CLIENTS * REQUEST + ws["messages.pushed"] * FRAME, abs=FRAME)
    sse = _stream("sse", 0, websocket_message_cost=FRAME)  # not a WebSocket: the key does not apply
    assert _busy(sse) == pytest.approx(CLIENTS * REQUEST + sse["messages.pushed"] * MESSAGE, abs=MESSAGE)
    assert _stream("websocket", 0) == _stream("websocket", 0, websocket_message_cost=MESSAGE)


def test_websocket_heartbeats_cost_two_frames_each_at_websocket_message_cost():
    # a ping written and a pong read per heartbeat, settled in bulk (accounting.py): their busy
    # time is spread over each connection's life, so the window holds its share, within one
    # heartbeat per connection of the count
    quiet = {"workload.rate": 0.0}
    values = {**BASE, **quiet, "mechanism.kind": "websocket", "mechanism.heartbeat": "1s",
              "server.websocket_message_cost": FRAME}
    m = run(load_config(None, values)).metrics
    beats = m["messages.heartbeats"]
    assert beats == pytest.approx(CLIENTS * DURATION, abs=CLIENTS)
    assert _busy(m) == pytest.approx(CLIENTS * REQUEST + 2 * beats * FRAME, abs=CLIENTS * 2 * FRAME)
