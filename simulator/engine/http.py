"""HTTP cost model: header bytes, connection set-up round trips and bytes.

Opening a connection costs one round trip for TCP plus the TLS handshake's:
TLS 1.2 adds two, TLS 1.3 one (RFC 8446 §2).  The handshake bytes are typical
sizes, not protocol minima: three 60-byte TCP segments, and for TLS a client
hello of ~300 B up and ~4 KB down for the server hello with its certificate
chain.  Polls over a kept-alive connection pay none of this.

With ``http.version`` 2 or 3 (:mod:`simulator.engine.http2`) a request after the
first on a connection sends compressed headers (``repeat_request_headers``), and
HTTP/3 opens with QUIC's one round trip, none when the client resumes (0-RTT).
"""

from __future__ import annotations

from dataclasses import dataclass

TLS_ROUND_TRIPS = {"none": 0, "1.2": 2, "1.3": 1}
TCP_HANDSHAKE_UP_BYTES = 120.0  # SYN + ACK
TCP_HANDSHAKE_DOWN_BYTES = 60.0  # SYN-ACK
TLS_HANDSHAKE_UP_BYTES = 600.0
TLS_HANDSHAKE_DOWN_BYTES = 4000.0


@dataclass(frozen=True, slots=True)
class HttpCost:
    """Bytes and round trips of HTTP exchanges (bytes, counts)."""

    request_headers: float
    response_headers: float
    tls: str
    keep_alive: bool
    keep_alive_timeout: float
    version: str = "1.1"
    repeat_request_headers: float = -1.0  # headers of a later request on the connection (-1: as the first)
    repeat_response_headers: float = -1.0

    def __post_init__(self) -> None:
        if self.repeat_request_headers < 0:
            object.__setattr__(self, "repeat_request_headers", self.request_headers)
        if self.repeat_response_headers < 0:
            object.__setattr__(self, "repeat_response_headers", self.response_headers)

    @property
    def handshake_round_trips(self) -> int:
        """Round trips before the first request on a new connection."""
        if self.version == "3":
            return 1  # QUIC: transport and TLS 1.3 in one round trip
        return 1 + TLS_ROUND_TRIPS[self.tls]

    @property
    def resumed_round_trips(self) -> int:
        """Round trips before the request of a client that was connected before (HTTP/3: 0-RTT)."""
        return 0 if self.version == "3" else self.handshake_round_trips

    @property
    def encrypted(self) -> bool:
        """TLS bytes are sent: tls set, or HTTP/3 (QUIC always carries TLS 1.3)."""
        return self.tls != "none" or self.version == "3"

    @property
    def handshake_bytes_up(self) -> float:
        """Bytes a client sends to open a connection: TCP, plus TLS when encrypted."""
        return TCP_HANDSHAKE_UP_BYTES + (TLS_HANDSHAKE_UP_BYTES if self.encrypted else 0.0)

    @property
    def handshake_bytes_down(self) -> float:
        """Bytes the server sends to open a connection: TCP, plus TLS when encrypted."""
        return TCP_HANDSHAKE_DOWN_BYTES + (TLS_HANDSHAKE_DOWN_BYTES if self.encrypted else 0.0)
