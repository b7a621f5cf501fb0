"""The experiment config: TOML in, typed and validated objects out.

Every section and key of docs/design.md §4 is a pydantic model field with its default
and a description (the source of ``docs/config.md``).  Units are parsed here,
once: the models downstream see seconds, bytes and bits per second, and a
:class:`~simulator.config.distributions.Distribution` wherever a duration may be
random.  Mechanism parameters are validated by the model the mechanism
registered (see :mod:`simulator.config.registry`), so the engine needs no knowledge
of any one mechanism.  Loading, ``--set`` and the checks across keys live in
:mod:`simulator.config.load`.

Bad input raises :class:`ConfigError` carrying one line per problem in the form
``error: file: key.path: problem`` (with the closest valid key for a typo).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    field_validator,
    model_validator,
)

from simulator.config.distributions import Distribution, parse_distribution
from simulator.config.keys import ConfigError
from simulator.config.server_profiles import PROFILE_KEYS as STACK_KEYS
from simulator.config.server_profiles import PROFILE_NAMES, PROFILES
from simulator.config.services import DEPLOYMENT_KINDS, SELF_HOSTED, SERVICES
from simulator.config.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

__all__ = [
    "DEFAULT_KIND", "BitsPerSecond", "Bytes", "ConfigError", "Count", "ExperimentConfig", "Flag", "Number",
    "PositiveSecondsDist", "Seconds", "SecondsDist",
]


def _number(value: Any) -> Any:
    """Numbers only (TOML ``true`` is not 1), and finite (TOML allows ``inf``/``nan``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        tip = " (one value per run: lists of values are for `sim sweep`)" if isinstance(value, str) and "," in value else ""
        raise ValueError(f"must be a number, got {value!r}{tip}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def _whole(value: Any) -> Any:
    """Whole numbers only; ``1e4`` is accepted as 10000, ``2.5`` and ``true`` are not."""
    try:
        _number(value)
    except ValueError as exc:
        raise ValueError(str(exc).replace("a number", "a whole number", 1)) from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    return value


def _positive_mean(dist: Distribution) -> Distribution:
    if dist.mean <= 0:
        raise ValueError(f"must be > 0 (a zero interval repeats without pause), got {dist.to_config()!r}")
    return dist


#: The range a duration, size or link rate may take (0 is always allowed): below
#: the smallest, the model cannot tell the value from 0 (the latency histogram's
#: lowest bucket is 1 ns; a byte is the smallest payload; a link slower than 1 bit/s
#: never finishes a frame); above the largest, products such as bytes x clients x
#: deliveries leave the range where floats add exactly (2**53) and runs never end.
SECONDS_RANGE = (1e-9, 1e10)
BYTES_RANGE = (1.0, float(2**50))
BITS_PER_SECOND_RANGE = (1.0, 1e15)


def _within(what: str, bounds: tuple[float, float], show) -> Any:
    smallest, largest = bounds

    def check(value: float) -> float:
        if 0 < value < smallest:
            raise ValueError(f"a {what} must be 0 or at least {show(smallest)} (the model's resolution), got {value:g}")
        if value > largest:
            raise ValueError(f"a {what} must be at most {show(largest)}, got {value:g}")
        return value

    return check


def _show_seconds(seconds: float) -> str:
    return "1ns" if seconds == SECONDS_RANGE[0] else f"{seconds:g}s (about {seconds / 31_557_600:,.0f} years)"


def _dist_within(dist: Distribution) -> Distribution:
    smallest, largest = SECONDS_RANGE
    if 0 < dist.mean < smallest or dist.mean > largest:
        raise ValueError(f"{dist.kind} with a mean of {dist.mean:.3g}s: the mean must be 0 or within 1ns..{_show_seconds(largest)}")
    return dist


Number = Annotated[float, BeforeValidator(_number)]
Count = Annotated[int, BeforeValidator(_whole)]
Flag = StrictBool
Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_within("duration", SECONDS_RANGE, _show_seconds)),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
Bytes = Annotated[
    float,
    BeforeValidator(parse_size),
    AfterValidator(_within("size", BYTES_RANGE, lambda b: "1B" if b == 1 else "1 PiB (2**50 B)")),
    PlainSerializer(format_size, return_type=str, when_used="json"),
]
BitsPerSecond = Annotated[
    float,
    BeforeValidator(parse_rate),
    AfterValidator(_within("link rate", BITS_PER_SECOND_RANGE, format_rate)),
    PlainSerializer(format_rate, return_type=str, when_used="json"),
]
SecondsDist = Annotated[
    Distribution,
    BeforeValidator(parse_distribution),
    AfterValidator(_dist_within),
    PlainSerializer(lambda d: d.to_config(), return_type=Any, when_used="json"),
]
#: A duration or distribution whose mean must be > 0 (polling intervals).
PositiveSecondsDist = Annotated[
    Distribution,
    BeforeValidator(parse_distribution),
    AfterValidator(_positive_mean),
    AfterValidator(_dist_within),
    PlainSerializer(lambda d: d.to_config(), return_type=Any, when_used="json"),
]


def _one_of(name: str, choices: tuple[str, ...], what: str) -> str:
    """``name`` if it is one of ``choices``, else a ValueError that lists them."""
    if name not in choices:
        raise ValueError(f"unknown {what} {name!r} (choose from {', '.join(choices)})")
    return name


def _s(text: str) -> float:
    """A default written as in docs/design.md §4 (``"50us"``), so it prints back the same."""
    return parse_duration(text)


#: The documented default of ``mechanism.kind`` (a config without one polls).
DEFAULT_KIND = "short_polling"
#: Longest experiment.name (UTF-8 bytes): it is a folder name, and most file systems stop at 255.
MAX_NAME_BYTES = 200


#: AWS Application Load Balancer prices, us-east-1 (dollars per hour and per LCU-hour;
#: source and date in docs/pricing.md): a self-hosted fleet is billed for its balancer.
BALANCER_HOUR = 0.0225
LCU_HOUR = 0.008

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)


class ExperimentSection(Section):
    name: str = Field("experiment", description="Name of the experiment; results go to `results/<name>/<timestamp>` by default.")
    description: str = Field("", description="Free text, copied into the results.")
    seed: Count = Field(1, ge=0, le=2**63 - 1, description="Seed from which every random stream derives; same config and seed give identical metrics.")
    duration: Seconds = Field(_s("10m"), gt=0, description="Simulated time that is measured, after the warm-up.")
    warmup: Seconds = Field(_s("30s"), description="Simulated time run first and not measured.")
    sample_every: Seconds = Field(_s("1s"), gt=0, description="Resolution of `timeseries.csv` (one row per window).")
    drain: Seconds = Field(
        _s("5m"),
        description=(
            "After the measured window, keep simulating up to this long (no new notifications,"
            " nothing else measured) until every notification published in the window is"
            " delivered or lost, so late deliveries' latencies are counted, not cut off;"
            " 0 = stop at the window's end (what is still on its way counts as pending)."
        ),
    )
    confirm_large: Flag = Field(
        False,
        description=(
            "true: `sim run` of a run estimated to take more than 5 minutes or 4 GiB starts"
            " without asking, even at a terminal (as `--yes`); its one-line estimate is still printed."
            " Runs above the machine's memory or 24 hours are refused either way."
        ),
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # The name becomes a folder name: refuse anything that would climb or nest.
        if not name.strip() or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"must be a plain folder name (no '/' and not empty), got {name!r}")
        control = next((ch for ch in name if ord(ch) < 32 or ord(ch) == 127), None)
        if control is not None:
            raise ValueError(f"must be a plain folder name: no control characters, got {control!r} in {name!r}")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"must be a folder name of at most {MAX_NAME_BYTES} bytes, got {len(name.encode('utf-8'))}")
        return name


#: Radio power models (seconds, watts): promotion from idle, then the tail timer at tail power
#: after the last byte.  Huang et al., "A Close Examination of Performance and Power
#: Characteristics of 4G LTE Networks", MobiSys 2012, Table 3; sources and checks in docs/mobile.md.
RADIO_PROFILES: dict[str, dict[str, float]] = {
    "lte": {"promotion": 0.2601, "promotion_power": 1.2107, "tail": 11.576, "tail_power": 1.060},
    "3g": {"promotion": 0.5821, "promotion_power": 0.6594, "tail": 8.0882, "tail_power": 0.8039},
    "wifi": {"promotion": 0.0791, "promotion_power": 0.1244, "tail": 0.2381, "tail_power": 0.1193},
}


#: network.nat_timeout for clients.kind = "mobile" when not given: idle TCP mappings of cellular
#: carriers are to be assumed gone after about 5 minutes (docs/mobile.md has the sources and range).
MOBILE_NAT_TIMEOUT = 300.0


class RadioSection(Section):
    kind: Literal["none", "lte", "3g", "wifi"] = Field("none", description="The client radio's power state machine (promotion, active, tail, idle): none (not modelled), lte, 3g or wifi (defaults of Huang et al., MobiSys 2012; docs/mobile.md).")
    promotion: Seconds | None = Field(None, ge=0, description="Time from idle to active when a byte is sent or received (default: the kind's).")
    promotion_power: Number | None = Field(None, ge=0, description="Watts drawn during the promotion (default: the kind's).")
    tail: Seconds | None = Field(None, ge=0, description="The radio stays active this long after the last byte (the tail timer; default: the kind's).")
    tail_power: Number | None = Field(None, ge=0, description="Watts drawn while active or in the tail, above idle (default: the kind's).")

    def resolved(self) -> dict[str, float]:
        """The state machine's parameters: the kind's defaults with any key given here over them."""
        out = dict(RADIO_PROFILES.get(self.kind, {}))
        for key in ("promotion", "promotion_power", "tail", "tail_power"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        return out


class ClientsSection(Section):
    count: Count = Field(1000, ge=1, le=100_000_000, description="Number of clients (subscribers, or webhook receivers).")
    connect_over: Seconds = Field(_s("10s"), description="Clients start uniformly spread over this window from time 0.")
    kind: Literal["browser", "mobile", "backend"] = Field("browser", description="Who the clients are: a webhook needs a reachable backend; `sim plan` says when a mechanism cannot serve this kind.")
    session: Seconds = Field(_s("0s"), description="Mean online session (exponential): a client goes offline after it, closing its connections; 0 = clients stay online all run.")
    offline: Seconds = Field(_s("5m"), gt=0, description="Mean time offline (exponential) before the same client comes back (with session > 0); what was published meanwhile stays owed.")
    tabs: Count = Field(1, ge=1, le=10_000, description="Streams each client opens to the origin (browser tabs, each its own EventSource or WebSocket; SSE and WebSocket). HTTP/1.1 browsers open at most 6 connections per origin for HTTP requests: SSE tabs beyond that stall (clients.stalled), WebSocket tabs each get a connection; on HTTP/2 and 3 every tab is a stream of one connection, up to http.max_streams.")

    radio: RadioSection = Field(RadioSection(), description="The client radio's power state machine ([clients.radio]); kind none by default.")


class BackoffSection(Section):
    initial: Seconds = Field(_s("1s"), gt=0, description="Delay before the first retry or reconnect (before jitter).")
    max: Seconds = Field(_s("30s"), gt=0, description="Cap of the delay; must be >= initial.")
    factor: Number = Field(2.0, ge=1.0, le=100.0, description="Growth of the delay per attempt: initial * factor^attempt.")
    jitter: Literal["none", "full", "equal", "decorrelated"] = Field("full", description="Randomisation of each delay, as in AWS's 'Exponential Backoff and Jitter'.")


class MechanismSection(Section):
    """``kind`` and ``backoff`` are common; the other keys belong to the kind's model."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(DEFAULT_KIND, description="Which mechanism: a kind registered in `models/` (see `sim mechanisms`).")
    backoff: BackoffSection = Field(BackoffSection(), description="Reconnect and webhook retry delays.")
    params: Any = Field(None, exclude=True)


class WorkloadSection(Section):
    pattern: Literal["per_client", "broadcast", "topics"] = Field("per_client", description="per_client: each client its own feed; broadcast: one feed to all; topics: each client subscribes to one of `topics` feeds, uniformly.")
    topics: Count = Field(100, ge=1, le=10_000_000, description="Number of feeds with pattern = 'topics'.")
    rate: Number = Field(0.2, ge=0, le=1e6, description="Notifications per second per feed.")
    arrivals: Literal["poisson", "periodic"] = Field("poisson", description="Publish times per feed: a Poisson process, or evenly spaced with a random phase.")
    payload: Bytes = Field(200.0, description="Bytes of one notification's payload.")
    upstream_rate: Number = Field(0.0, ge=0, le=1e6, description="Client -> server messages per second per client (WebSocket only).")


class NetworkSection(Section):
    latency: SecondsDist = Field(Distribution.constant(_s("25ms")), description="One-way client <-> server latency; constant or a distribution (drawn per crossing).")
    bandwidth: BitsPerSecond = Field(100e6, gt=0, description="Per-client access link: serialisation delay = bytes * 8 / bandwidth.")
    nat_timeout: Seconds = Field(_s("0s"), description="A middlebox on the client side (carrier NAT) silently forgets a connection idle this long; the server learns only when a write fails. 0 = never; with clients.kind = \"mobile\" the default is 5m (docs/mobile.md). SSE and WebSocket.")
    dead_peer_timeout: Seconds = Field(_s("0s"), description="A client declares its connection dead after this long without any traffic from the server (a crashed node, a half-open connection); 0 = only an explicit close tells it (a crash is noticed at once). SSE, WebSocket and long polling.")


class HttpSection(Section):
    request_headers: Bytes = Field(500.0, description="Header bytes of each HTTP request.")
    response_headers: Bytes = Field(371.0, description="Header bytes of each HTTP response (871 B in all, after Lubbers & Greco).")
    tls: Literal["none", "1.2", "1.3"] = Field("1.3", description="TLS version: extra round trips to open a connection (none 0, 1.2 two, 1.3 one) on top of TCP's one.")
    keep_alive: Flag = Field(True, description="Polls reuse the connection; false: every poll pays TCP (+TLS) set-up.")
    keep_alive_timeout: Seconds = Field(_s("75s"), description="An idle keep-alive connection stays open (and counts) this long (nginx default).")
    version: Literal["1.1", "2", "3"] = Field("1.1", description="HTTP version. 2: HPACK shrinks the headers of every request after the first on a connection (fields in the dynamic table cost 1 byte each) and a client's streams share one connection, up to max_streams. 3: like 2 (QPACK), over QUIC: 1 round trip to open whatever tls says, 0 (0-RTT resumption) when the client reconnects.")
    max_streams: Count = Field(100, ge=1, le=1_000_000, description="Concurrent streams on one HTTP/2 or HTTP/3 connection (SETTINGS_MAX_CONCURRENT_STREAMS); streams beyond it stall.")
    request_header_fields: Count = Field(10, ge=0, le=10_000, description="Header fields in each request: with HTTP/2 and 3 a repeated request costs 1 byte per field (indexed in the dynamic table) plus the frame header. An assumption, see docs/mechanisms.md.")
    response_header_fields: Count = Field(6, ge=0, le=10_000, description="Header fields in each response (as request_header_fields).")
    compression: Literal["none", "permessage-deflate"] = Field("none", description="WebSocket compression (RFC 7692): payloads shrink by deflate_ratio, each message costs deflate_cost more CPU, and each connection holds zlib's deflate and inflate state in memory.")
    deflate_ratio: Number = Field(1.0, gt=0, le=1, description="permessage-deflate: compressed / original payload size. No published figure found: 1.0 (no gain) until you measure your payloads.")
    deflate_cost: Seconds = Field(_s("0s"), description="permessage-deflate: extra CPU per message compressed or decompressed. No published figure found: 0 until you measure it.")
    deflate_window_bits: Count = Field(15, ge=8, le=15, description="permessage-deflate: zlib windowBits (server_max_window_bits); memory per connection (1 << (windowBits + 2)) + (1 << (memLevel + 9)) for deflate plus 1 << windowBits for inflate.")
    deflate_mem_level: Count = Field(8, ge=1, le=9, description="permessage-deflate: zlib memLevel (8 is zlib's default).")

    @model_validator(mode="before")
    @classmethod
    def _tls_as_text(cls, data: Any) -> Any:
        # TOML users write tls = 1.3 as often as tls = "1.3"; only those exact numbers
        # (1.25 is no TLS version, and rounding it would run a config nobody wrote).
        if isinstance(data, dict) and isinstance(data.get("tls"), float) and data["tls"] in (1.2, 1.3):
            data = {**data, "tls": f"{data['tls']:.1f}"}
        # likewise version = 2 or 1.1 (booleans are not versions)
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int | float) and not isinstance(version, bool) and version in (1.1, 2, 3):
            data = {**data, "version": "1.1" if version == 1.1 else str(int(version))}
        return data


class ServerSection(Section):
    profile: str = Field("generic", description="A named server stack (see docs/profiles.md): fills memory_per_connection, message_cost, request_cost and max_connections from published measurements; keys written in [server] win.")
    nodes: Count = Field(1, ge=1, le=10_000, description="Server nodes behind the balancer.")
    workers: Count = Field(4, ge=1, le=100_000, description="Requests processed at once per node (cores).")
    request_cost: SecondsDist = Field(Distribution.constant(_s("1ms")), description="CPU time per HTTP request handled; constant or a distribution.")
    message_cost: SecondsDist = Field(Distribution.constant(_s("50us")), description="CPU time per message written to an open connection.")
    websocket_message_cost: SecondsDist | None = Field(None, description="CPU time per WebSocket frame handled (pushed, ping written, pong read, client message): a frame written on an upgraded connection costs a stack less than an SSE event written through a chunked HTTP response. Absent = message_cost (fit it with sim calibrate on a websocket run).")
    held_response_cost: SecondsDist | None = Field(None, description="CPU time to answer a held long poll when news arrives or its hold runs out (waking the parked request, cancelling its timer, writing the deferred response), charged on top of the request's request_cost. Absent = message_cost (fit it with sim calibrate on a long_polling run).")
    max_connections: Count = Field(10000, ge=1, description="Open connections per node (file descriptors); more are refused.")
    idle_cpu: Number = Field(0.0, ge=0, lt=1, description="Fraction of each worker's core (of one core with workers = 1) a node spends whatever the traffic (event loop, timers, keep-alive bookkeeping) while it is up: the workers get the rest, so every request's and message's service time stretches by 1 / (1 - idle_cpu), and server.cpu_utilization counts idle_cpu plus the work's share. 0 = none (a real stack: fit it with sim calibrate on three runs).")
    memory_per_connection: Bytes = Field(40 * 1024.0, description="Server memory held per open connection.")
    memory_base: Bytes = Field(256 * 2**20.0, description="Server memory per node with no connections.")
    memory_limit: Bytes = Field(0.0, ge=0, description="Memory of a node: a connection that would take it past this is refused (memory_base + connections x memory per connection, zlib state included). 0 = unlimited.")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        return _one_of(name, PROFILE_NAMES, "server profile")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_profile(cls, data: Any) -> Any:
        # The profile fills only the keys the config leaves out: written keys win.
        if isinstance(data, dict) and isinstance(data.get("profile"), str) and data["profile"] in PROFILES:
            values = PROFILES[data["profile"]]
            data = {**{k: values[k] for k in STACK_KEYS if k not in data}, **data}
        return data


class ClusterSection(Section):
    balancer: Literal["round_robin", "least_connections", "hash"] = Field("round_robin", description="How the balancer places each new connection or request; hash is sticky by client.")
    idle_timeout: Seconds = Field(_s("0s"), description="The balancer drops a connection idle this long; 0 = never (AWS ALB: 60s).")
    heartbeats_reset_idle: Flag = Field(True, description="Whether heartbeat traffic (SSE comments, WebSocket pings) counts as activity for idle_timeout; false = ALB-style, pings do not keep a quiet stream open.")
    max_connection_age: Seconds = Field(_s("0s"), description="The platform closes any connection this old and the client reconnects (API Gateway: 2h); 0 = never. SSE, WebSocket and long polling's kept-alive connections.")
    backplane_latency: Seconds = Field(_s("1ms"), description="Pub/sub hop that brings an event to another node (nodes > 1).")
    store_cost: Seconds = Field(_s("500us"), description="Shared-state read a stateless poll pays when nodes > 1.")
    backplane: Literal["ideal", "redis"] = Field("ideal", description="ideal: a publish reaches the nodes after backplane_latency; redis: it first goes through one single-threaded pub/sub server (a FCFS queue) costing backplane_cost per published event plus backplane_cost per subscribed node.")
    backplane_cost: Seconds = Field(_s("20us"), ge=0, description="redis backplane: CPU per published event, and again per node it is sent to.")
    ports_per_backend: Count = Field(0, ge=0, description="Connections one balancer address may hold to one node (its ephemeral ports; Linux default range 32768-60999 = 28232); more are refused. 0 = unlimited.")


class DeploymentSection(Section):
    kind: str = Field(SELF_HOSTED, description="Who runs the servers: self_hosted (our fleet: node-hours, balancer, egress) or a managed service (api_gateway_websocket, azure_signalr, ably, pusher, cloudflare_durable_objects) with its billing rules and quotas (docs/pricing.md); with a service, [server] models its edge and node-hours are not billed.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _one_of(kind, DEPLOYMENT_KINDS, "deployment kind")


class FailureSpec(Section):
    kind: Literal["node_crash", "receiver_outage"] = Field(description="node_crash: a server node goes down; receiver_outage: a fraction of webhook receivers refuse.")
    node: Count = Field(0, ge=0, description="node_crash: which node (numbered from 0).")
    fraction: Number = Field(1.0, gt=0, le=1, description="receiver_outage: share of receivers down.")
    at: Seconds = Field(_s("0s"), description="When the failure starts (simulated time from 0, warm-up included).")
    duration: Seconds = Field(_s("1m"), description="How long it lasts.")


#: Keys each failure kind takes (the others are refused, not ignored).
FAILURE_KEYS = {
    "node_crash": ("kind", "node", "at", "duration"),
    "receiver_outage": ("kind", "fraction", "at", "duration"),
}


class ProfileSection(Section):
    kind: Literal["diurnal", "steps", "trace"] = Field(description="Shape of the load over time: diurnal (a cosine day), steps (piecewise constant) or trace (a CSV, linear between rows).")
    period: Seconds = Field(_s("24h"), gt=0, description="diurnal: length of one cycle.")
    peak_at: Seconds = Field(_s("20h"), description="diurnal: time of the peak within the cycle (t = 0 is 00:00).")
    trough: Number = Field(0.25, ge=0, le=1, description="diurnal: level at the trough, as a fraction of the peak (cosine between trough and 1).")
    points: list[tuple[Seconds, Number]] = Field(default_factory=list, description='steps: [["0s", 0.5], ["1h", 1.0]]: the multiplier from each time on (before the first: the first).')
    file: str = Field("", description="trace: CSV with columns time (seconds) and multiplier, linear between rows; a path relative to the config file.")
    applies_to: list[Literal["clients", "rate"]] = Field(["clients", "rate"], description="What the multiplier scales: the online population (clients.count is the peak) and/or workload.rate.")

    @field_validator("applies_to")
    @classmethod
    def _some(cls, targets: list[str]) -> list[str]:
        if len(set(targets)) != len(targets):
            raise ValueError(f"lists a target twice: {targets!r}")
        return targets


#: Keys each profile kind takes besides kind and applies_to (the others are refused).
PROFILE_KEYS = {"diurnal": ("period", "peak_at", "trough"), "steps": ("points",), "trace": ("file",)}

class AutoscaleSection(Section):
    metric: Literal["cpu", "connections", "memory"] = Field("cpu", description="What the policy tracks per serving node: cpu (busy fraction of the workers), connections (fraction of max_connections) or memory (fraction of memory_base + max_connections * memory_per_connection).")
    target: Number = Field(0.6, gt=0, le=1, description="Per-node level the policy steers to (target tracking: desired = ceil(serving * metric / target)).")
    min_nodes: Count = Field(2, ge=1, le=10_000, description="Fewest nodes the policy keeps running; the fleet starts at server.nodes, raised to this if below.")
    max_nodes: Count = Field(50, ge=1, le=10_000, description="Most nodes the policy runs (must be >= min_nodes); the fleet starts at server.nodes, lowered to this if above.")
    evaluate_every: Seconds = Field(_s("1m"), gt=0, description="How often the policy looks at the metric (its mean over the last period).")
    scale_out_cooldown: Seconds = Field(_s("3m"), ge=0, description="No scale-out sooner than this after the previous scale-out.")
    scale_in_cooldown: Seconds = Field(_s("10m"), ge=0, description="No scale-in sooner than this after the previous scaling step (out or in).")
    boot_time: Seconds = Field(_s("90s"), ge=0, description="A new node takes traffic only after this (billed from the start).")
    drain: Seconds = Field(_s("30s"), ge=0, description="A node leaving stops taking new connections and closes its connections spread over this window; clients reconnect elsewhere with their backoff.")


class OperationSpec(Section):
    kind: Literal["rolling_deploy", "scale_to"] = Field(description="rolling_deploy: replace every node, batch by batch (a new node boots first, then an old one leaves); scale_to: change the node count to `nodes`.")
    at: Seconds = Field(_s("0s"), description="When the operation starts (simulated time from 0, warm-up included).")
    nodes: Count = Field(1, ge=1, le=10_000, description="scale_to: the node count to reach.")
    batch: Count = Field(1, ge=1, le=10_000, description="rolling_deploy: nodes replaced at a time.")
    drain: Seconds = Field(_s("30s"), ge=0, description="A node leaving closes its connections spread over this window (0 = all at once when it goes).")
    deregistration_delay: Seconds = Field(_s("10s"), ge=0, description="rolling_deploy: the balancer stops placing new connections on a leaving node this long before its drain starts.")
    boot_time: Seconds = Field(_s("60s"), ge=0, description="A new node takes traffic only after this (billed from the start).")


#: Keys each operation kind takes (the others are refused, not ignored).
OPERATION_KEYS = {
    "rolling_deploy": ("kind", "at", "batch", "drain", "deregistration_delay", "boot_time"),
    "scale_to": ("kind", "at", "nodes", "drain", "boot_time"),
}


class CostSection(Section):
    node_hour: Number = Field(0.10, ge=0, description="Dollars per node-hour.")
    egress_gb: Number = Field(0.09, ge=0, description="Dollars per GB sent to clients.")
    balancer_hour: Number = Field(BALANCER_HOUR, ge=0, description="Dollars per hour for the load balancer in front of a self-hosted fleet (default: AWS ALB, us-east-1, docs/pricing.md); 0 = not billed.")
    lcu_hour: Number = Field(LCU_HOUR, ge=0, description="Dollars per load-balancer capacity unit-hour (AWS ALB: 0.008); the LCUs are the largest of new connections/s / 25, active connections / 3,000, GB/h / 1 and rule evaluations/s / 1,000.")


class SweepSection(Section):
    replications: Count = Field(3, ge=1, le=10_000, description="Runs per grid point, each with its own seed (`sim sweep`).")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Axes of the sweep: dotted config key -> list of values.")


#: Keys left out of the resolved config while at their default (as serialised), so that
#: configs written before them resolve, and seed sweeps, exactly as before.
_OPTIONAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "experiment": {"confirm_large": False},
    "clients": {"tabs": 1},
    "http": {
        "version": "1.1", "max_streams": 100, "request_header_fields": 10, "response_header_fields": 6,
        "compression": "none", "deflate_ratio": 1.0, "deflate_cost": "0s", "deflate_window_bits": 15,
        "deflate_mem_level": 8,
    },
    "server": {"memory_limit": "0B", "websocket_message_cost": None, "held_response_cost": None},
    "cluster": {"backplane": "ideal", "backplane_cost": "20us", "ports_per_backend": 0},
}


class ExperimentConfig(Section):
    """A whole experiment: every section of docs/design.md §4 with its defaults."""

    experiment: ExperimentSection = Field(ExperimentSection(), description="Name, seed and simulated time.")
    clients: ClientsSection = Field(ClientsSection(), description="The clients.")
    mechanism: MechanismSection = Field(MechanismSection(), description="The notification mechanism and its parameters.")
    workload: WorkloadSection = Field(WorkloadSection(), description="What is published, how often, to whom.")
    network: NetworkSection = Field(NetworkSection(), description="Client access links.")
    http: HttpSection = Field(HttpSection(), description="HTTP and connection set-up costs.")
    server: ServerSection = Field(ServerSection(), description="Each server node.")
    cluster: ClusterSection = Field(ClusterSection(), description="Balancer and multi-node costs.")
    failures: list[FailureSpec] = Field(default_factory=list, description="Injected failures ([[failures]] entries); none by default.")
    profile: ProfileSection | None = Field(None, description="Load over time ([profile]); absent = constant load.")
    autoscale: AutoscaleSection | None = Field(None, description="Target-tracking autoscaling ([autoscale]); absent = a fixed fleet of server.nodes.")
    operations: list[OperationSpec] = Field(default_factory=list, description="Planned changes to the fleet ([[operations]] entries: rolling_deploy, scale_to); none by default.")
    deployment: DeploymentSection = Field(DeploymentSection(), description="Own fleet or a managed service ([deployment]).")
    cost: CostSection = Field(CostSection(), description="Prices.")

    @model_validator(mode="before")
    @classmethod
    def _service_quotas(cls, data: Any) -> Any:
        # A managed service's max connection age and idle timeout are the engine's
        # cluster.max_connection_age / idle_timeout: filled where the config leaves them out.
        if not isinstance(data, dict) or not isinstance(data.get("deployment"), dict):
            return data
        kind = data["deployment"].get("kind")
        service = SERVICES.get(kind) if isinstance(kind, str) else None
        cluster = data.get("cluster", {})
        if service is None or not isinstance(cluster, dict):
            return data
        filled = dict(cluster)
        if service.quotas.max_connection_age and "max_connection_age" not in filled:
            filled["max_connection_age"] = service.quotas.max_connection_age
        if service.quotas.idle_timeout and "idle_timeout" not in filled:
            filled["idle_timeout"] = service.quotas.idle_timeout
        return {**data, "cluster": filled}
    sweep: SweepSection = Field(SweepSection(), description="Used by `sim sweep`.")

    @model_validator(mode="after")
    def _mobile_network(self) -> ExperimentConfig:
        # Phones sit behind carrier NATs that forget idle TCP mappings: unless the config says
        # otherwise, clients.kind = "mobile" gets the measured default (docs/mobile.md).
        if self.clients.kind == "mobile" and "nat_timeout" not in self.network.model_fields_set:
            self.network = self.network.model_copy(update={"nat_timeout": MOBILE_NAT_TIMEOUT})
            self.network.model_fields_set.add("nat_timeout")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain TOML-able data (units as strings); loads back equal."""
        data = self.model_dump(mode="json")
        params = self.mechanism.params
        mech = {"kind": self.mechanism.kind}
        if params is not None:
            mech.update(params.model_dump(mode="json"))
        mech["backoff"] = data["mechanism"]["backoff"]
        data["mechanism"] = mech
        if data["clients"]["kind"] == "browser":
            # The resolved [clients] seeds sweep replications: without the default
            # kind, configs written before `kind` existed keep their seeds.
            del data["clients"]["kind"]
        # Keys added for churn and [profile] appear only when set, so configs without them
        # keep their resolved form (and the sweep seeds derived from it).
        for key, default in (("session", 0.0), ("offline", 300.0)):
            if getattr(self.clients, key) == default:
                del data["clients"][key]
        # Keys of real protocols (docs/design.md, protocols) likewise appear only when set.
        for section, defaults in _OPTIONAL_DEFAULTS.items():
            for key, default in defaults.items():
                if data[section].get(key) == default:
                    del data[section][key]
        if self.clients.radio == RadioSection():
            del data["clients"]["radio"]  # absent when not used: resolved configs (and seeds) as before
        else:
            data["clients"]["radio"] = {k: v for k, v in data["clients"]["radio"].items() if v is not None}
        if self.profile is None:
            del data["profile"]
        else:
            data["profile"] = {
                k: v for k, v in data["profile"].items() if k in ("kind", "applies_to", *PROFILE_KEYS[self.profile.kind])
            }
        failures = [
            {k: v for k, v in f.items() if k in FAILURE_KEYS[f["kind"]]} for f in data["failures"]
        ]
        if failures:
            data["failures"] = failures
        else:
            del data["failures"]
        # Keys of real stacks and bills appear only when set, so older configs resolve as before.
        if self.server.profile == "generic":
            del data["server"]["profile"]
        if self.deployment.kind == SELF_HOSTED:
            del data["deployment"]
        for key, default in (("balancer_hour", BALANCER_HOUR), ("lcu_hour", LCU_HOUR)):
            if getattr(self.cost, key) == default:
                del data["cost"][key]
        # Absent fleet sections stay absent: configs without them resolve (and seed) as before.
        if data["autoscale"] is None:
            del data["autoscale"]
        operations = [
            {k: v for k, v in op.items() if k in OPERATION_KEYS[op["kind"]]} for op in data["operations"]
        ]
        if operations:
            data["operations"] = operations
        else:
            del data["operations"]
        return data

    def starting_nodes(self) -> int:
        """Nodes at t = 0: ``server.nodes``, within ``[autoscale]``'s bounds when it is set."""
        n = self.server.nodes
        if self.autoscale is not None:
            n = min(self.autoscale.max_nodes, max(self.autoscale.min_nodes, n))
        return n

    def node_slots(self) -> int:
        """The most nodes that can exist at once (booting, serving or draining): per-node arrays' size."""
        most = max(self.server.nodes, self.starting_nodes())
        if self.autoscale is not None:
            most = max(most, self.autoscale.max_nodes)
        most = max([most] + [op.nodes for op in self.operations if op.kind == "scale_to"])
        surge = max((op.batch for op in self.operations if op.kind == "rolling_deploy"), default=0)
        # Nodes still draining while replacements boot: at most one fleet's worth more.
        leaving = most if self.operations or self.autoscale is not None else 0
        return most + surge + leaving
