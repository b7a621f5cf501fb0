"""What server and load generator agree on: the event log, payloads and frames.

The event log is the simulator's own (engine/workload.py, same seed and random
stream), so a testbed run and its simulation see the same notifications; the server
rebuilds it after a crash (it "outlives any node", as in the model) and the load
generator knows what every client is owed without asking.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass

import numpy as np

from simulator.config import ExperimentConfig
from simulator.engine.simulation import Simulation

#: The smallest payload that carries feed, sequence number and publish time.
MIN_PAYLOAD_BYTES = 64
#: SSE heartbeat: a comment block (docs/mechanisms.md, SSE).
SSE_HEARTBEAT = b":\n\n"
#: Offsets of tcpi_bytes_acked and tcpi_bytes_received in Linux's struct tcp_info (since 4.2).
_TCP_INFO_LEN = 136
_BYTES_ACKED_AT = 120


@dataclass
class EventLog:
    """Publish times (seconds from the run's time 0) per feed, and each client's feed."""

    times: list[np.ndarray]
    client_feed: np.ndarray
    payload_bytes: int

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> EventLog:
        """The very notifications a simulated run of ``config`` publishes (same streams, same seed)."""
        sim = Simulation(config)
        log = sim.log
        log.advance(sim.t_end)
        times = [np.asarray(log.times_from(feed, 0), dtype=np.float64) for feed in range(log.feeds)]
        if config.mechanism.kind == "long_polling":
            # a poll held at the window's end ends as the schedule the seed continues with would end
            # it (as the model judges it): each feed's first event after the end, within one hold
            after = log.first_after(sim.t_end, config.mechanism.params.hold)
            times = [np.append(t, a) if np.isfinite(a) else t for t, a in zip(times, after, strict=True)]
        return cls(times, np.asarray(log.client_feed), int(config.workload.payload))

    def published(self, feed: int, now: float) -> int:
        """How many events of ``feed`` are published at ``now`` (the last sequence number)."""
        return int(np.searchsorted(self.times[feed], now, side="right"))

    def payload(self, feed: int, seq: int, t0: float) -> bytes:
        """Event ``seq`` (1-based) of ``feed``: JSON of exactly ``payload_bytes``, one line."""
        return payload(feed, seq, t0 + float(self.times[feed][seq - 1]), self.payload_bytes)


def payload(feed: int, seq: int, published_epoch: float, size: int) -> bytes:
    """A payload of exactly `size` bytes carrying its feed, sequence number and publish time."""
    head = f'{{"f":{feed},"n":{seq},"t":{published_epoch:.6f},"p":"'.encode()
    return head + b"x" * (size - len(head) - 2) + b'"}'


def parse_payload(data: bytes | str) -> tuple[int, int, float]:
    """(feed, seq, publish time as epoch seconds) of one payload."""
    obj = json.loads(data)
    return obj["f"], obj["n"], obj["t"]


def split_payloads(body: bytes, size: int) -> list[bytes]:
    """A poll's body is its events' payloads back to back (each exactly ``size`` bytes)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def sse_frame(seq: int, data: bytes) -> bytes:
    """``id: n`` / ``data: payload`` / blank line: payload + 13 + digits(n) bytes."""
    return b"id: %d\ndata: %s\n\n" % (seq, data)


def tcp_bytes(sock: socket.socket | None) -> tuple[int, int]:
    """(bytes sent and acknowledged, bytes received) of a TCP socket, from the kernel (TCP_INFO).

    Payload bytes of the TCP stream, not IP or TCP headers: what the model counts as
    bytes on the wire.  (0, 0) for a socket already closed.
    """
    if sock is None:
        return 0, 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return 0, 0
    if len(info) < _TCP_INFO_LEN:
        return 0, 0
    return struct.unpack_from("QQ", info, _BYTES_ACKED_AT)


class ByteMeter:
    """Bytes each client socket sent and received while the window is open (TCP_INFO deltas)."""

    def __init__(self) -> None:
        self.counting = False
        self.up = 0
        self.down = 0
        self._seen: dict[socket.socket, tuple[int, int]] = {}

    def socket_factory(self, addr_info) -> socket.socket:
        """aiohttp's hook to create a client socket: created here, so its counters can be read."""
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=kind, proto=proto)
        self._seen[sock] = (0, 0)
        return sock

    def settle(self, sock) -> None:
        """Count what ``sock`` carried since it was last read (no-op once it is closed)."""
        if sock is None:
            return
        acked, received = tcp_bytes(sock)
        if acked == 0 and received == 0:
            self._seen.pop(sock, None)
            return
        last_acked, last_received = self._seen.get(sock, (0, 0))
        self._seen[sock] = (acked, received)
        if self.counting:
            self.up += acked - last_acked
            self.down += received - last_received

    def settle_all(self) -> None:
        """Read the kernel's byte counters of every socket seen."""
        for sock in list(self._seen):
            self.settle(sock)

    def open_window(self) -> None:
        """Start counting bytes from now (what was sent before is settled first)."""
        self.counting = False
        self.settle_all()
        self.counting = True

    def close_window(self) -> None:
        """Settle every socket and stop counting."""
        self.settle_all()
        self.counting = False
