"""Named server stacks (``server.profile``): published per-connection memory and CPU costs.

Each profile fills the four ``[server]`` keys below with values derived from a
published measurement; docs/profiles.md gives, for every value, its source, what
was measured on what hardware, and the arithmetic from the measurement to the
number here.  A value no source measured keeps the generic default and is
listed under ``ASSUMED`` (the docs say so too).  Keys written in ``[server]``
win over the profile: the profile only fills what the config leaves out, at load
time, so the resolved ``config.toml`` shows the values a run used.
"""

from __future__ import annotations

from types import MappingProxyType

#: The keys a profile fills.
PROFILE_KEYS = ("memory_per_connection", "message_cost", "request_cost", "max_connections")

#: The generic node: the defaults of docs/design.md (a profile equal to no profile).
GENERIC = MappingProxyType({
    "memory_per_connection": "40KiB",
    "message_cost": "50us",
    "request_cost": "1ms",
    "max_connections": 10000,
})

_PROFILES: dict[str, dict[str, object]] = {
    "generic": dict(GENERIC),
    # gorilla/websocket: 51,010 connections in 2,085 MB on a 1 vCPU / 3.75 GB GCE node
    # (gorilla/websocket#72); CPU per frame from the Go server of the Hashrocket shootout.
    "go_gorilla": {
        "memory_per_connection": "42860B",
        "message_cost": "10us",
        "request_cost": "1ms",
        "max_connections": 51010,
    },
    # gobwas/ws + epoll (Mail.Ru): about 8 KB per connection (gobwas/ws#17).
    "go_gobwas": {
        "memory_per_connection": "8KiB",
        "message_cost": "10us",
        "request_cost": "1ms",
        "max_connections": 1000000,
    },
    # Node.js with websockets/ws: 620k idle connections on a 4 CPU / 15 GB m3.xlarge (Jayway).
    "node_ws": {
        "memory_per_connection": "24194B",
        "message_cost": "33us",
        "request_cost": "1ms",
        "max_connections": 620000,
    },
    # Phoenix Channels: 500k sockets in about 6 GB (The Erlangelist), 2M on one machine.
    "phoenix": {
        "memory_per_connection": "12000B",
        "message_cost": "13us",
        "request_cost": "1ms",
        "max_connections": 2000000,
    },
    # Centrifugo / Centrifuge: 1M connections, 27 GB, 40 CPU for 500k deliveries/s (20 pods).
    "centrifugo": {
        "memory_per_connection": "27000B",
        "message_cost": "60us",
        "request_cost": "3ms",
        "max_connections": 50000,
    },
    # C++ websocketpp (Hashrocket shootout): 33,000 clients in about 600 MB.
    "cpp_websocketpp": {
        "memory_per_connection": "18182B",
        "message_cost": "11us",
        "request_cost": "1ms",
        "max_connections": 33000,
    },
    # nginx push stream module: 160 B shared + 6,530 B system memory per subscriber (its own
    # memory test); no published CPU figures.
    "nginx_push_stream": {
        "memory_per_connection": "6690B",
        "message_cost": "50us",
        "request_cost": "1ms",
        "max_connections": 10000,
    },
}

#: Every profile by name, read-only.
PROFILES = MappingProxyType({name: MappingProxyType(values) for name, values in _PROFILES.items()})

#: Values no published measurement gave: the generic default kept (docs/profiles.md says why).
ASSUMED = MappingProxyType({
    "go_gorilla": ("request_cost",),
    "go_gobwas": ("message_cost", "request_cost"),
    "node_ws": ("request_cost",),
    "phoenix": ("request_cost",),
    "cpp_websocketpp": ("request_cost",),
    "nginx_push_stream": ("message_cost", "request_cost", "max_connections"),
})

PROFILE_NAMES = tuple(PROFILES)
