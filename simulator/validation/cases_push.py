"""Push latency: a broadcast over open connections, against the fan-out queue.

1,000 clients hold WebSocket or SSE connections to one node with c = 4 workers;
a broadcast event is published every second (periodic), heartbeats off.  Each
publish queues N writes of ``message_cost`` m = 50 µs behind the node's idle
workers, message i on worker i mod c, so it leaves the node at (⌊i/c⌋ + 1)·m
after the publish, then crosses its link in L + frame·8/bandwidth.  Averaged
over the N clients (N a multiple of c):

    latency = L + m (N/c + 1)/2 + frame · 8 / bandwidth

with frame = payload + 2 B for WebSocket (RFC 6455 §5.2, payload < 126 B) and
payload + 13 B + the digits of the event id for SSE (``id: n`` / ``data:`` /
blank line; ids stay two-digit in this window).  The burst takes 12.5 ms, far
less than the 1 s between publishes, so each starts with idle workers.

Allowance: the last publish of the window may be cut by its end (its slowest
writes land after it and are not counted), which changes the mean by at most
one burst's spread over the window's events, m·N/(c·events) (0.1 ms here).
"""

from __future__ import annotations

from simulator.validation.core import Agree, Case, Scenario

N, WORKERS, COST = 1_000, 4, 50e-6
LATENCY, BANDWIDTH, PAYLOAD = 0.025, 100e6, 100.0
WINDOW = 60.0  # events 16..76: two-digit SSE ids


def scenario(kind: str) -> Scenario:
    """A broadcast to `N` clients on one node over SSE or WebSocket."""
    return Scenario.config(
        f"push-{kind}",
        {
            "mechanism.kind": kind,
            "mechanism.heartbeat": "0s",
            "clients.count": N,
            "workload.pattern": "broadcast",
            "workload.arrivals": "periodic",
            "workload.rate": 1.0,
            "workload.payload": PAYLOAD,
            "network.latency": LATENCY,
            "network.bandwidth": BANDWIDTH,
            "server.workers": WORKERS,
            "server.message_cost": COST,
            "experiment.warmup": 15,
            "experiment.duration": WINDOW,
        },
    )


def _latency(m: dict[str, float]) -> float:
    return m["latency.mean"]


def cases(quick: bool) -> list[Case]:
    """Fan-out checks: frame bytes and the queueing delay of a broadcast burst."""
    queue = COST * (N / WORKERS + 1) / 2
    allowance = Agree(
        abs=COST * N / WORKERS / WINDOW,
        reason="the window's last burst may be cut by its end",
    )
    frames = {"websocket": PAYLOAD + 2, "sse": PAYLOAD + 13 + 2}
    out = []
    for kind, frame in frames.items():
        out.append(
            Case(
                f"{'WebSocket' if kind == 'websocket' else 'SSE'} broadcast to {N:,}: mean latency",
                "push",
                "latency.mean",
                "s",
                LATENCY + queue + frame * 8 / BANDWIDTH,
                "L + m(N/c + 1)/2 + frame·8/bandwidth (FCFS fan-out over c workers)",
                (scenario(kind),),
                _latency,
                allowance,
                3,
            )
        )
    return out
