"""Real protocols (issue 12 items 2-5): HTTP/2 and 3, tabs, permessage-deflate, port limits, a Redis backplane.

Each check is against a protocol fact or queueing theory:

* HPACK (RFC 7541 §6.1): a header field found in the dynamic table costs 1 byte,
  so a repeated HTTP/2 request costs the 9-byte frame header plus 1 byte per field;
* browsers open 6 HTTP/1.1 connections per origin: a 7th tab's stream stalls; on
  HTTP/2 every tab is a stream of one connection, up to ``max_streams``;
* QUIC (RFC 9000 §7, RFC 9001 §4.6): 1 round trip to open, 0 to resume;
* zlib (zconf.h): deflate holds (1 << (windowBits+2)) + (1 << (memLevel+9)) bytes,
  inflate 1 << windowBits: 288 KiB per connection at the defaults;
* Linux's default ephemeral range 32768-60999 holds 28,232 ports;
* a single-threaded pub/sub server is an M/D/1 queue for Poisson publishes.
"""

from __future__ import annotations

import copy

import pytest

from simulator.config import ConfigError, validate_config
from simulator.config.keys import set_dotted
from simulator.engine.connections import Lifecycle
from simulator.engine.http2 import zlib_memory_bytes
from simulator.engine.runner import run
from simulator.engine.simulation import Simulation
from simulator.validation import cases_lubbers

LATENCY = 0.025


def _config(kind: str = "sse", n: int = 20, **over) -> dict:
    data = {
        "experiment": {"duration": "20s", "warmup": "5s", "sample_every": "5s", "seed": 1},
        "clients": {"count": n, "connect_over": "1s"},
        "mechanism": {"kind": kind},
        "workload": {"pattern": "broadcast", "rate": 1.0},
    }
    for key, value in over.items():
        section, rest = key.split(".", 1)
        node = data.setdefault(section, {})
        *parents, leaf = rest.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return data


def _run(data: dict) -> dict[str, float]:
    return run(validate_config(copy.deepcopy(data))).metrics


def _scenario(scenario) -> dict:
    data: dict = {}
    for key, value in scenario.overrides:
        set_dotted(data, key, value)
    return data


# -- HTTP/2 headers: Lubbers & Greco's polling arithmetic -----------------------------
def test_http2_polling_headers_follow_the_hpack_arithmetic():
    """Polled once a second, each client sends 9 + 10 and receives 9 + 6 header bytes (not 871)."""
    n = 300
    scenario = cases_lubbers.polling(n, version="2")
    metrics = _run(_scenario(scenario))
    expected = cases_lubbers.HTTP2_HEADER_BYTES * 8 * n
    assert cases_lubbers.HTTP2_HEADER_BYTES == (9 + 10) + (9 + 6)
    assert cases_lubbers.header_bits_per_second(metrics) == pytest.approx(expected, rel=1e-12)


def test_http11_is_the_default_and_keeps_871_bytes():
    metrics = _run(_scenario(cases_lubbers.polling(300)))
    assert cases_lubbers.header_bits_per_second(metrics) == pytest.approx(871 * 8 * 300, rel=1e-12)


def test_new_keys_at_their_defaults_stay_out_of_the_resolved_config():
    resolved = validate_config(_config()).to_dict()
    assert "version" not in resolved["http"] and "tabs" not in resolved["clients"]
    assert "backplane" not in resolved["cluster"] and "memory_limit" not in resolved["server"]
    assert validate_config(_config(**{"http.version": 2})).to_dict()["http"]["version"] == "2"


# -- tabs: the 6-per-origin rule ---------------------------------------------------------
@pytest.mark.parametrize("tabs", [1, 6, 7, 9])
def test_http11_tabs_beyond_six_stall(tabs: int):
    n = 10
    m = _run(_config(n=n, **{"clients.tabs": tabs}))
    assert m["clients.stalled"] == n * max(0, tabs - 6)
    assert m["connections.peak"] == n * min(tabs, 6)  # one connection per open stream
    assert m["deliveries.lost"] == 0


def test_websocket_tabs_are_not_held_to_the_http_limit():
    """Browsers count WebSockets apart from the 6 HTTP/1.1 connections per origin."""
    n = 10
    m = _run(_config("websocket", n=n, **{"clients.tabs": 7}))
    assert m["clients.stalled"] == 0 and m["connections.peak"] == n * 7
    h2 = _run(_config("websocket", n=n, **{"clients.tabs": 7, "http.version": "2"}))
    assert h2["clients.stalled"] == 0 and h2["connections.peak"] == n


def test_http2_tabs_share_one_connection_up_to_max_streams():
    n = 10
    m = _run(_config(n=n, **{"clients.tabs": 7, "http.version": "2"}))
    assert m["clients.stalled"] == 0 and m["connections.peak"] == n
    capped = _run(_config(n=n, **{"clients.tabs": 7, "http.version": "2", "http.max_streams": 4}))
    assert capped["clients.stalled"] == n * 3 and capped["connections.peak"] == n


def test_each_open_tab_is_written_to():
    """7 tabs on HTTP/2 receive 7 frames per event; on HTTP/1.1 only the 6 open ones do."""
    one = _run(_config(**{"mechanism.heartbeat": "0s"}))
    h2 = _run(_config(**{"mechanism.heartbeat": "0s", "clients.tabs": 7, "http.version": "2"}))
    h1 = _run(_config(**{"mechanism.heartbeat": "0s", "clients.tabs": 7}))
    frames = one["network.bytes_down"]  # every stream opened before the window: frames only
    assert h2["network.bytes_down"] == pytest.approx(7 * frames, rel=1e-12)
    assert h1["network.bytes_down"] == pytest.approx(6 * frames, rel=1e-12)


def test_tabs_are_refused_for_polling():
    with pytest.raises(ConfigError, match="clients.tabs"):
        validate_config(_config("short_polling", **{"clients.tabs": 2}))


# -- HTTP/3: QUIC handshake and 0-RTT resumption -------------------------------------
def test_http3_opens_in_one_round_trip_and_resumes_in_zero():
    sim = Simulation(validate_config(_config("short_polling", **{"http.version": "3", "http.tls": "1.2"})))
    lifecycle = Lifecycle(sim)
    assert lifecycle.handshake(0, 0.0) == pytest.approx(2 * LATENCY)  # QUIC: 1 RTT whatever tls says
    assert lifecycle.handshake(0, 1.0) == 0.0  # client 0 again: resumed
    assert lifecycle.handshake(1, 1.0) == pytest.approx(2 * LATENCY)  # another client: a first
    h2 = Lifecycle(Simulation(validate_config(_config("short_polling", **{"http.version": "2"}))))
    h2.handshake(0, 0.0)
    assert h2.handshake(0, 1.0) == pytest.approx(4 * LATENCY)  # TCP + TLS 1.3, resumed or not


def test_http3_reconnects_after_a_crash_skip_the_handshake():
    """After a crash the streams' reconnects pay no round trip: the deliveries after it come sooner."""
    crash = {"failures": [{"kind": "node_crash", "node": 0, "at": "10s", "duration": "2s"}]}
    base = _config("websocket", n=30, **{"mechanism.resume": True, "mechanism.backoff.jitter": "none"})
    h2 = _run({**base, **crash, "http": {"version": "2"}})
    h3 = _run({**base, **crash, "http": {"version": "3"}})
    assert h3["deliveries.lost"] == h2["deliveries.lost"] == 0
    assert h3["latency.max"] < h2["latency.max"]
    # same seed, same draws: the latest delivery differs by exactly the two round trips (TCP + TLS 1.3)
    # that 0-RTT skips; the WebSocket upgrade is still one round trip on both
    assert h2["latency.max"] - h3["latency.max"] == pytest.approx(4 * LATENCY, abs=1e-9)


# -- permessage-deflate ------------------------------------------------------------------
def test_zlib_memory_is_the_documented_formula():
    assert zlib_memory_bytes(15, 8) == 128 * 1024 + 128 * 1024 + 32 * 1024  # 288 KiB
    assert zlib_memory_bytes(10, 4) == 4096 + 8192 + 1024


def test_deflate_shrinks_payloads_and_costs_cpu_and_memory():
    over = {"mechanism.heartbeat": "0s", "workload.payload": "200B", "server.request_cost": "0s"}
    plain = _run(_config("websocket", **over))
    deflated = _run(_config("websocket", **over, **{
        "http.compression": "permessage-deflate", "http.deflate_ratio": 0.5, "http.deflate_cost": "100us",
    }))
    pushed = plain["messages.pushed"]
    assert deflated["messages.pushed"] == pushed
    assert plain["network.bytes_down"] == pushed * (4 + 200)  # RFC 6455: 16-bit length from 126 B
    assert deflated["network.bytes_down"] == pushed * (2 + 100)
    assert deflated["server.cpu_utilization"] == pytest.approx(3 * plain["server.cpu_utilization"], rel=1e-6)
    held = deflated["server.memory_peak"] - plain["server.memory_peak"]
    assert held == plain["connections.peak"] * zlib_memory_bytes(15, 8)


def test_deflate_memory_makes_a_failover_run_out_of_memory():
    """Two nodes of 20 clients each; node 0 crashes; node 1 has memory for 30 connections with zlib."""
    per_connection = 40 * 1024 + zlib_memory_bytes(15, 8)
    limit = 256 * 2**20 + 30 * per_connection
    over = {"server.nodes": 2, "server.memory_limit": limit, "mechanism.heartbeat": "0s"}
    crash = {"failures": [{"kind": "node_crash", "node": 0, "at": "10s", "duration": "30s"}]}
    plain = _run({**_config("websocket", n=40, **over), **crash})
    deflated = _run({**_config("websocket", n=40, **over, **{"http.compression": "permessage-deflate"}), **crash})
    assert plain["connections.refused"] == 0  # 40 KiB per connection: all 40 fit on node 1
    assert deflated["connections.refused"] > 0
    assert deflated["server.memory_peak_per_node"] <= limit


def test_deflate_is_refused_for_sse():
    with pytest.raises(ConfigError, match="http.compression"):
        validate_config(_config("sse", **{"http.compression": "permessage-deflate"}))


# -- ports per backend -----------------------------------------------------------------
def test_ports_per_backend_caps_each_node_and_counts_refusals():
    over = {"cluster.ports_per_backend": 20, "mechanism.heartbeat": "0s"}
    one = _run(_config(n=50, **over))
    assert one["connections.peak"] == 20 and one["connections.refused"] > 0
    two = _run(_config(n=50, **over, **{"server.nodes": 2}))
    assert two["connections.peak"] == 40
    assert _run(_config(n=50))["connections.refused"] == 0


def test_linux_ephemeral_range():
    assert 60999 - 32768 + 1 == 28232  # the documented default of net.ipv4.ip_local_port_range


# -- the Redis backplane ----------------------------------------------------------------
def test_a_saturated_redis_backplane_queues_like_md1():
    """Poisson publishes (160/s) through one server busy 5 ms each (2.5 ms x (1 event + 1 node)): rho = 0.8.

    M/D/1: Wq = rho D / (2 (1 - rho)) = 10 ms, so each delivery is Wq + D = 15 ms later
    than with an ideal backplane.  The mean wait of the ~16,000 publishes of 100 s
    has a standard deviation of 0.6 ms (300 replications of the Lindley recursion
    with these numbers); the tolerance is 4 of them.  M/M/1 (Wq = 20 ms) is outside it.
    """
    over = {
        "experiment.duration": "100s", "experiment.warmup": "2s", "workload.pattern": "per_client",
        "workload.rate": 1.0, "mechanism.heartbeat": "0s", "server.message_cost": "1us",
    }
    ideal = _run(_config("websocket", n=160, **over))
    redis = _run(_config("websocket", n=160, **over, **{"cluster.backplane": "redis", "cluster.backplane_cost": "2.5ms"}))
    d, rho = 0.005, 0.8
    wq = rho * d / (2 * (1 - rho))
    assert redis["latency.mean"] - ideal["latency.mean"] == pytest.approx(wq + d, abs=4 * 0.0006)
    # utilisation: the Poisson count of 16,000 publishes has a relative s.d. of 0.8 %
    assert redis["backplane.cpu_utilization"] == pytest.approx(rho, rel=4 * 0.008)
    assert ideal["backplane.cpu_utilization"] == 0.0


def test_a_broadcast_costs_the_backplane_per_subscribed_node():
    over = {"workload.rate": 10.0, "cluster.backplane": "redis", "cluster.backplane_cost": "1ms",
            "workload.arrivals": "periodic", "mechanism.heartbeat": "0s"}
    one = _run(_config(**over))
    four = _run(_config(**over, **{"server.nodes": 4}))
    # 10 events/s x 1 ms x (1 + nodes): 2 % on one node, 5 % on four
    assert one["backplane.cpu_utilization"] == pytest.approx(0.02, rel=0.02)
    assert four["backplane.cpu_utilization"] == pytest.approx(0.05, rel=0.02)


def test_long_polling_over_http2_sends_compressed_headers_after_the_first():
    """Every request after a connection's first costs 9 + 10 bytes up, every response 9 + 6 down."""
    over = {"workload.pattern": "per_client", "workload.payload": 0, "mechanism.hold": "30s",
            "experiment.duration": "60s", "http.tls": "none"}
    h2 = _run(_config("long_polling", n=30, **over, **{"http.version": "2"}))
    h1 = _run(_config("long_polling", n=30, **over))
    # connections opened in the warm-up: the window holds repeated requests only (edges: ~1 per client)
    assert h2["network.bytes_up"] / h2["requests.total"] == pytest.approx(9 + 10, rel=0.03)
    assert h2["network.bytes_down"] / h2["requests.total"] == pytest.approx(9 + 6, rel=0.03)
    assert h1["network.bytes_up"] / h1["requests.total"] == pytest.approx(500, rel=0.03)


def test_long_polling_publishes_go_through_the_redis_backplane():
    over = {"workload.rate": 10.0, "workload.arrivals": "periodic", "cluster.backplane_cost": "1ms"}
    ideal = _run(_config("long_polling", **over))
    redis = _run(_config("long_polling", **over, **{"cluster.backplane": "redis"}))
    assert redis["backplane.cpu_utilization"] == pytest.approx(0.02, rel=0.02)  # 10/s x 1 ms x (1 + 1 node)
    assert redis["latency.mean"] - ideal["latency.mean"] == pytest.approx(0.002, abs=1e-4)  # D, no queue
