"""Lubbers & Greco: header traffic of polling against WebSocket framing.

Peter Lubbers and Frank Greco, "HTML5 Web Sockets: A Quantum Leap in
Scalability for the Web", websocket.org (Kaazing), 2010.  Their use cases A,
B and C: 1,000, 10,000 and 100,000 clients receive one message a second.
Polled once a second with 871 bytes of HTTP request and response headers,
that is 871 × 8 × N bit/s of header traffic (6,968,000 / 69,680,000 /
696,800,000 bit/s); over a WebSocket each message carries a 2-byte frame
header, 2 × 8 × N bit/s (16,000 / 160,000 / 1,600,000 bit/s).

The simulated figure is the non-payload traffic, 8 × ``network.bytes_per_second``
× ``network.overhead_fraction``: for polling every byte of a zero-payload
exchange (request 500 B + response 371 B, DESIGN's defaults); for WebSocket
the frame headers of 100-byte messages (< 126 B: 2-byte header, RFC 6455
§5.2), heartbeats off, with the one-off upgrade handshakes before the window.
Both are pure bytes accounting: the counts are exact (every client sends
exactly one poll, or receives exactly one message, per second of the window),
so the check is exact.
"""

from __future__ import annotations

from simulator.validation.core import Agree, Case, Scenario

HEADER_BYTES = 871.0
FRAME_BYTES = 2.0
#: HTTP/2 poll after the first on its connection: each of the 10 request and 6 response
#: header fields indexed in HPACK's dynamic table (1 byte, RFC 7541 §6.1), plus a 9-byte
#: frame header each way (RFC 9113 §4.1).
HTTP2_HEADER_BYTES = (9.0 + 10) + (9.0 + 6)
CLIENTS = (1_000, 10_000, 100_000)


def header_bits_per_second(m: dict[str, float]) -> float:
    """Non-payload bits per second, both directions."""
    return 8.0 * m["network.bytes_per_second"] * m["network.overhead_fraction"]


def _window(n: int) -> dict[str, float]:
    # Whole seconds, so each client's count in the window is exact; every
    # client is connected (handshakes done) before the window opens.  The
    # biggest population gets a one-second window: the figure is per second.
    return {
        "clients.connect_over": 1,
        "experiment.warmup": 3,  # first polls by 2 s, their set-up (2 RTTs) done by 2.2 s
        "experiment.duration": 1 if n >= 100_000 else 2,
        "experiment.sample_every": 1,
        "server.workers": 64,
        "server.max_connections": 200_000,
    }


def polling(n: int, version: str = "1.1") -> Scenario:
    """Lubbers & Greco's polling use case with `n` clients (HTTP version `version`)."""
    http2 = {"http.version": version} if version != "1.1" else {}
    return Scenario.config(
        f"lubbers-poll-{n}" + ("" if version == "1.1" else f"-h{version}"),
        {
            **http2,
            "mechanism.kind": "short_polling",
            "mechanism.interval": "1s",
            "clients.count": n,
            "workload.pattern": "broadcast",
            "workload.arrivals": "periodic",
            "workload.rate": 1.0,
            "workload.payload": 0,
            "http.request_headers": 500,
            "http.response_headers": 371,
            "server.request_cost": "10us",  # no queueing even at 100,000 polls/s
            **_window(n),
        },
    )


def websocket(n: int) -> Scenario:
    """Lubbers & Greco's WebSocket use case with `n` clients."""
    return Scenario.config(
        f"lubbers-ws-{n}",
        {
            "mechanism.kind": "websocket",
            "mechanism.heartbeat": "0s",
            "clients.count": n,
            "workload.pattern": "broadcast",
            "workload.arrivals": "periodic",
            "workload.rate": 1.0,
            "workload.payload": 100,
            "server.message_cost": "1us",
            **_window(n),
        },
    )


def cases(quick: bool) -> list[Case]:
    """Lubbers & Greco's bytes per second for polling and WebSocket, exactly."""
    src = "Lubbers & Greco (2010), use cases A/B/C"
    exact = Agree(reason="none: exact bytes accounting")
    # Deterministic counts: two seeds show the figure does not depend on the draw (one when quick).
    reps = 1 if quick else 2
    out = []
    for n in CLIENTS:
        if quick and n >= 100_000:
            continue  # ~15 s of CPU; the same accounting as at 1,000 and 10,000 (full suite only)
        out.append(
            Case(
                f"Lubbers & Greco: polling 1/s, {n:,} clients",
                "published: Lubbers & Greco",
                "header traffic",
                "bit/s",
                HEADER_BYTES * 8 * n,
                f"{src}: 871 B × 8 × {n:,}/s",
                (polling(n),),
                header_bits_per_second,
                exact,
                reps,
            )
        )
    for n in CLIENTS[:1] if quick else CLIENTS[:2]:
        # the same polls over HTTP/2: the keep-alive connection's dynamic table holds every field
        out.append(
            Case(
                f"Lubbers & Greco over HTTP/2 (HPACK): polling 1/s, {n:,} clients",
                "published: Lubbers & Greco",
                "header traffic",
                "bit/s",
                HTTP2_HEADER_BYTES * 8 * n,
                f"{src} with RFC 7541/9113: (9 + 10 + 9 + 6) B × 8 × {n:,}/s",
                (polling(n, version="2"),),
                header_bits_per_second,
                exact,
                reps,
            )
        )
    for n in CLIENTS:
        out.append(
            Case(
                f"Lubbers & Greco: WebSocket 1 msg/s, {n:,} clients",
                "published: Lubbers & Greco",
                "header traffic",
                "bit/s",
                FRAME_BYTES * 8 * n,
                f"{src}: 2 B × 8 × {n:,}/s",
                (websocket(n),),
                header_bits_per_second,
                exact,
                reps,
            )
        )
    return out
