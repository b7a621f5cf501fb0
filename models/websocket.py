"""WebSocket: an HTTP Upgrade, then RFC 6455 frames both ways on one connection.

Opening costs the TCP and TLS round trips plus one more: the client sends
``GET`` with ``Upgrade: websocket`` (``request_headers`` up, ``request_cost``
on the node, one HTTP request) and waits for ``101 Switching Protocols``
(``response_headers`` down) before it subscribes.  Frames (RFC 6455 §5.2):
server-to-client header 2 B when the payload is under 126 B, 4 B (16-bit
extended length) under 65,536 B, 10 B (64-bit length) beyond; client frames
are masked, adding a 4 B masking key.  Every ``heartbeat`` the server sends a
ping (a control frame with an empty payload: 2 B) and the client answers with
a pong (2 B + 4 B mask = 6 B); each costs the node ``message_cost``
(``server.websocket_message_cost`` when set: every frame below does).
``workload.upstream_rate`` client messages per second per connection (payload
``workload.payload``, masked frames) each cost the node ``message_cost``.

After a drop the client reconnects with backoff.  Plain WebSocket has no
resume: what is published while a client is not connected is lost to it.
``resume = true`` models an application-level resume (the client sends the
last id it saw; the server replays everything missed from the event log).

``http.compression = "permessage-deflate"`` (RFC 7692) deflates each payload by
``http.deflate_ratio`` in both directions (frame headers stay as they are); its
CPU and per-connection zlib memory are the engine's (``simulator.engine.http2``).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.base import PersistentMechanism
from simulator.config import ExperimentConfig, Seconds
from simulator.config.distributions import Distribution
from simulator.engine.connections.persistent import Framing
from simulator.engine.simulation import Simulation

PING_BYTES = 2  # FIN/opcode byte + length byte, no payload
PONG_BYTES = 2 + 4  # the client's frames carry a masking key
MASK_BYTES = 4


def header_bytes(payload: float) -> int:
    """RFC 6455 server-to-client frame header for a payload of ``payload`` bytes."""
    if payload < 126:
        return 2
    if payload < 65536:
        return 4
    return 10


def frame_bytes(payload: float, masked: bool = False) -> float:
    """Bytes of one frame with ``payload`` bytes; ``masked`` for client-to-server frames."""
    return header_bytes(payload) + (MASK_BYTES if masked else 0) + payload


class WebSocketParams(BaseModel):
    """The `[mechanism]` keys of WebSockets."""
    model_config = ConfigDict(extra="forbid")
    heartbeat: Seconds = Field(
        30.0, ge=0, description="Time between ping/pong exchanges (2 B ping, 6 B pong); 0s turns them off."
    )
    resume: bool = Field(
        False,
        description="true: after a reconnect the server replays what was missed from the event log;"
        " false: what is published while a client is away is lost to it.",
    )


class WebSocket(PersistentMechanism):
    """WebSockets: an HTTP Upgrade, then RFC 6455 frames; ping/pong heartbeats."""
    kind = "websocket"
    order = 40
    features = frozenset({"node_crash", "upstream", "tabs", "compression"})
    Params = WebSocketParams
    summary = "HTTP Upgrade then RFC 6455 frames; ping/pong heartbeats; lost while disconnected unless resume"
    units = {"heartbeat": "seconds (0 = off)", "resume": "true | false"}

    @classmethod
    def message_cost(cls, config: ExperimentConfig) -> Distribution:
        """A frame costs ``server.websocket_message_cost`` when set (a stack's frames are cheaper than SSE events)."""
        s = config.server
        return s.websocket_message_cost if s.websocket_message_cost is not None else s.message_cost

    def framing(self, sim: Simulation) -> Framing:
        """RFC 6455 framing (deflated payload with permessage-deflate), the upgrade's round trip, ping/pong."""
        p = sim.params
        payload = sim.config.workload.payload
        http = sim.config.http
        if http.compression == "permessage-deflate":  # RFC 7692: the payload is deflated, the header is not
            payload *= http.deflate_ratio
        down = float(frame_bytes(payload))
        return Framing(
            name="websocket",
            frame_bytes=lambda seqs: np.full(len(seqs), down),
            frame_one=lambda seq: down,
            extra_round_trips=1,
            heartbeat=p.heartbeat,
            heartbeat_down=PING_BYTES,
            heartbeat_up=PONG_BYTES,
            heartbeat_messages=2,  # the ping written and the pong read
            replay_limit=math.inf if p.resume else 0.0,
            upstream_rate=sim.config.workload.upstream_rate,
            upstream_bytes=float(frame_bytes(payload, masked=True)),
        )
