"""HTTP cost model: header bytes, connection set-up round trips and bytes.

Opening a connection costs one round trip for TCP plus the TLS handshake's:
TLS 1.2 adds two, TLS 1.3 one (RFC 8446 §2).  The handshake bytes are typical
sizes, not protocol minima: three 60-byte TCP segments, and for TLS a client
hello of ~300 B up and ~4 KB down for the server hello with its certificate
chain.  Polls over a kept-alive connection pay none of this.
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

    @property
    def handshake_round_trips(self) -> int:
        """Round trips before the first request on a new connection."""
        return 1 + TLS_ROUND_TRIPS[self.tls]

    @property
    def handshake_bytes_up(self) -> float:
        return TCP_HANDSHAKE_UP_BYTES + (TLS_HANDSHAKE_UP_BYTES if self.tls != "none" else 0.0)

    @property
    def handshake_bytes_down(self) -> float:
        return TCP_HANDSHAKE_DOWN_BYTES + (TLS_HANDSHAKE_DOWN_BYTES if self.tls != "none" else 0.0)
