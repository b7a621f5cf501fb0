"""HTTP/2 and HTTP/3 on the wire: header compression, streams per connection, 0-RTT, tabs.

Headers (RFC 7541 HPACK, RFC 9204 QPACK).  The first request on a connection
carries its headers in full (``http.request_headers``; the static table and
Huffman coding would shave some of it, which we do not count).  Every field
then sits in the connection's dynamic table, so a later request with the same
fields sends each as an *indexed header field*: 1 byte while its index fits
the 7-bit prefix (RFC 7541 §6.1, §5.1; QPACK's indexed field line, RFC 9204
§4.5.2, likewise).  A repeated request therefore costs
``frame header + header_fields`` bytes: HTTP/2 frames have a 9-byte header
(RFC 9113 §4.1); an HTTP/3 HEADERS frame a 1-byte type and a 1-byte length
(RFC 9114 §7.1, varints under 64) plus QPACK's 2-byte field section prefix
(RFC 9204 §4.5.1).  A field whose value changes (a date, a cursor in the path)
would cost its literal: this is the lower bound of what HPACK achieves.

Streams and tabs.  A client with ``clients.tabs`` tabs opens that many streams
(each tab its own EventSource or WebSocket).  HTTP/1.1 browsers open at most
:data:`BROWSER_CONNECTIONS_PER_ORIGIN` connections per origin for HTTP requests,
one stream each: further SSE tabs stall (a mechanism with the
``per_origin_limit`` feature).  WebSockets are counted apart from that limit, so
each WebSocket tab has its own connection.  HTTP/2 and 3 multiplex every stream
of the origin on one connection (WebSockets through extended CONNECT, RFC 8441)
up to ``http.max_streams``; beyond it they stall too.

Handshakes.  HTTP/3 runs over QUIC, which folds the transport and TLS 1.3
handshakes into one round trip (RFC 9000 §7) and lets a client that has been
connected before send its request at once (0-RTT, RFC 9001 §4.6): 1 round trip
for a client's first connection, 0 for every later one.

permessage-deflate (RFC 7692).  Each connection keeps a zlib deflate stream
and an inflate stream for its lifetime (context takeover): zlib documents
``(1 << (windowBits + 2)) + (1 << (memLevel + 9))`` bytes for deflate and
``1 << windowBits`` for inflate (zconf.h): 288 KiB at the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulator.config import ExperimentConfig
from simulator.engine.mechanism import mechanism_of

#: Connections an HTTP/1.1 browser opens to one origin (Chrome, Firefox, Safari: 6).
BROWSER_CONNECTIONS_PER_ORIGIN = 6
#: HTTP/2 frame header (RFC 9113 §4.1): length 3 + type 1 + flags 1 + stream id 4.
H2_FRAME_HEADER_BYTES = 9
#: HTTP/3 HEADERS frame: type and length varints (1 byte each below 64), RFC 9114 §7.1.
H3_FRAME_HEADER_BYTES = 2
#: QPACK encoded field section prefix: Required Insert Count and Base (RFC 9204 §4.5.1).
QPACK_PREFIX_BYTES = 2
#: Bytes of a header field found in the dynamic table (RFC 7541 §6.1, RFC 9204 §4.5.2).
INDEXED_FIELD_BYTES = 1


def zlib_memory_bytes(window_bits: int, mem_level: int) -> float:
    """zlib's documented memory for one deflate plus one inflate stream (bytes)."""
    deflate = (1 << (window_bits + 2)) + (1 << (mem_level + 9))
    inflate = 1 << window_bits
    return float(deflate + inflate)


@dataclass(frozen=True, slots=True)
class Streams:
    """How a client's tabs map onto connections (counts per client)."""

    tabs: int
    open: int  # streams that opened
    connections: int  # connections they use
    stalled: int  # streams that could not open

    @classmethod
    def of(cls, config: ExperimentConfig) -> Streams:
        """How the config's tabs map to streams, TCP connections and stalled tabs."""
        tabs = config.clients.tabs
        if config.http.version == "1.1":
            # the per-origin limit is on HTTP requests (an SSE stream is one); browsers count
            # WebSockets apart, so WebSocket tabs each get their own connection
            limited = "per_origin_limit" in mechanism_of(config).features
            opened = min(tabs, BROWSER_CONNECTIONS_PER_ORIGIN) if limited else tabs
            return cls(tabs, opened, opened, tabs - opened)
        opened = min(tabs, config.http.max_streams)
        return cls(tabs, opened, 1, tabs - opened)


def repeat_header_bytes(version: str, full: float, fields: int) -> float:
    """Header bytes of a request or response after the first on its connection."""
    if version == "2":
        return H2_FRAME_HEADER_BYTES + INDEXED_FIELD_BYTES * fields
    if version == "3":
        return H3_FRAME_HEADER_BYTES + QPACK_PREFIX_BYTES + INDEXED_FIELD_BYTES * fields
    return full


class ScaledSampler:
    """A sampler whose draws are ``scale * draw + shift`` (seconds): k streams' writes, deflate CPU."""

    __slots__ = ("inner", "scale", "shift")

    def __init__(self, inner, scale: float, shift: float):
        self.inner = inner
        self.scale = scale
        self.shift = shift

    def __call__(self) -> float:
        """One draw of the inner sampler, scaled and shifted."""
        return self.scale * self.inner() + self.shift

    def many(self, n: int) -> np.ndarray:
        """`n` draws of the inner sampler, scaled and shifted."""
        return self.scale * self.inner.many(n) + self.shift


def connection_cap(config: ExperimentConfig, memory_per_connection: float) -> int:
    """Connections one node accepts: max_connections, the balancer's ports, the memory limit."""
    s = config.server
    cap = s.max_connections
    ports = config.cluster.ports_per_backend
    if ports > 0:
        cap = min(cap, ports)
    if s.memory_limit > 0:
        room = s.memory_limit - s.memory_base
        cap = min(cap, max(0, math.floor(room / memory_per_connection + 1e-9)) if memory_per_connection > 0 else cap)
    return cap


def wire_payload(config: ExperimentConfig, streams: Streams | None = None) -> float:
    """Payload bytes on the wire for one event to one client: each open stream's copy, deflated."""
    payload = config.workload.payload
    if config.http.compression != "none":
        payload *= config.http.deflate_ratio
    if streams is not None and streams.open != 1:
        payload *= streams.open
    return payload


def tabs_framing(framing, streams: Streams):
    """The mechanism's framing for a client whose ``streams.open`` tabs each get every frame and heartbeat."""
    k = streams.open
    if k == 1:
        return framing
    frame_bytes, frame_one = framing.frame_bytes, framing.frame_one
    return replace(
        framing,
        frame_bytes=lambda seqs: k * frame_bytes(seqs),
        frame_one=lambda seq: k * frame_one(seq),
        heartbeat_down=k * framing.heartbeat_down,
        heartbeat_up=k * framing.heartbeat_up,
        heartbeat_messages=k * framing.heartbeat_messages,
    )


def opening_bytes(http, streams: Streams) -> tuple[float, float, float, float]:
    """Bytes to open a client's streams: request headers, response headers, handshake up and down.

    Each connection pays a handshake and a first request in full; the other streams
    on a shared (HTTP/2, 3) connection send repeated, compressed headers.
    """
    conns, extra = streams.connections, streams.open - streams.connections
    if conns == 1 and extra == 0:
        return http.request_headers, http.response_headers, http.handshake_bytes_up, http.handshake_bytes_down
    return (
        conns * http.request_headers + extra * http.repeat_request_headers,
        conns * http.response_headers + extra * http.repeat_response_headers,
        conns * http.handshake_bytes_up,
        conns * http.handshake_bytes_down,
    )
