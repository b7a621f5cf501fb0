"""Server-Sent Events: one long-lived HTTP response per client (WHATWG HTML §9.2).

The client opens ``GET`` with ``Accept: text/event-stream`` (one HTTP request,
``request_cost`` on the node); the response never ends, and each notification
is written to it as an event block::

    id: <n>\\n
    data: <payload>\\n
    \\n

so a frame is ``payload + 13 + digits(n)`` bytes (``"id: "`` 4, the id, LF 1,
``"data: "`` 6, LF 1, the blank line 1), with ``n`` the event's 1-based
sequence number in its feed and the payload one line of JSON (no LF inside).
Every ``heartbeat`` the server writes a comment block ``":\\n\\n"`` (3 B): the
shortest comment line (a colon, LF) followed by a blank line, which is what
servers send so that buffering proxies see a complete block and flush it.
Chunked transfer-encoding (HTTP/1.1) or DATA frame headers (HTTP/2) around
each write are not counted.

After a drop the client reconnects with backoff and sends ``Last-Event-ID``;
the server replays the missed events from the event log, at most the
``replay_buffer`` newest (a per-client ring buffer); older missed events are
lost.  ``replay_buffer = 0`` means no resume: everything missed is lost.  A
client's first connection carries no ``Last-Event-ID`` and gets only what is
published after it is subscribed.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.base import PersistentMechanism
from simulator.config import Seconds
from simulator.engine.connections.persistent import Framing
from simulator.engine.simulation import Simulation

#: ``"id: " + LF + "data: " + LF + LF``: the fixed bytes of one event block.
EVENT_OVERHEAD = 4 + 1 + 6 + 1 + 1
#: ``":\n\n"``: the heartbeat comment block.
HEARTBEAT_BYTES = 3


class SseParams(BaseModel):
    """The `[mechanism]` keys of Server-Sent Events."""
    model_config = ConfigDict(extra="forbid")
    heartbeat: Seconds = Field(
        15.0, ge=0, description="Time between heartbeat comments (:\\n\\n, 3 B); 0s turns them off."
    )
    replay_buffer: int = Field(
        1000,
        ge=0,
        description="Missed events replayed per client after a reconnect with Last-Event-ID;"
        " older ones are lost. 0 = no resume.",
    )


def id_digits(seqs: np.ndarray) -> np.ndarray:
    """Decimal digits of the event ids ``seq + 1`` (exact integer arithmetic)."""
    ids = np.asarray(seqs, dtype=np.int64) + 1
    return np.searchsorted(_POWERS, ids, side="right").astype(np.float64)


_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)


def event_bytes(payload: float, seqs: np.ndarray) -> np.ndarray:
    """Bytes of the event blocks carrying the events ``seqs`` (0-based) with ``payload`` bytes."""
    return payload + EVENT_OVERHEAD + id_digits(seqs)


class Sse(PersistentMechanism):
    """Server-Sent Events: one long-lived HTTP response per client, replay by Last-Event-ID."""
    kind = "sse"
    order = 30
    features = frozenset({"node_crash", "tabs", "per_origin_limit"})
    Params = SseParams
    summary = "one long-lived HTTP response per client; events with ids, heartbeat comments, Last-Event-ID replay"
    units = {"heartbeat": "seconds (0 = off)", "replay_buffer": "events per client"}

    def framing(self, sim: Simulation) -> Framing:
        """SSE framing: `id:`/`data:` lines per event, 3-byte heartbeat comments, Last-Event-ID replay."""
        p = sim.params
        payload = sim.config.workload.payload
        return Framing(
            name="sse",
            frame_bytes=lambda seqs: event_bytes(payload, seqs),
            frame_one=lambda seq: payload + EVENT_OVERHEAD + len(str(seq + 1)),
            heartbeat=p.heartbeat,
            heartbeat_down=HEARTBEAT_BYTES,
            heartbeat_up=0.0,
            heartbeat_messages=1,
            replay_limit=float(p.replay_buffer),
        )
