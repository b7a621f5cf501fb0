"""Up-front estimates of a run's memory and wall time, and the refusal of runs too large.

Kept apart from the runner (docs/design.md §8): the CLI, sweeps and plans call
:func:`check_fits` before anything runs, and ``sim run`` prints :func:`notice`'s
one line for a run it expects to be long or large.

The estimate sees the whole run (:func:`load_of`): the peak and the mean of a
``[profile]`` (a trace's largest multiplier included), churn (``clients.session``,
``clients.offline``: the online share, the flips and the notifications held for
offline clients) and the trace's own rows held in memory.  Memory takes the peak
(what is allocated at once), events the mean over the run (the work done).
``clients.tabs`` and ``workload.upstream_rate`` are settled arithmetically
(``engine/connections/accounting.py``, ``tabs_framing``): they add no event and
no per-client state, so the estimate adds nothing for them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache

from simulator.config import ConfigError, ExperimentConfig, ProfileSection
from simulator.engine.connections.persistent import SWEEPS_PER_IDLE_TIMEOUT
from simulator.engine.mechanism import mechanism_of
from simulator.engine.profile import LoadProfile

#: Bytes per worker slot of a node (a heap entry, a float once used) and per node-window
#: of the CPU series.
BYTES_PER_WORKER = 32
BYTES_PER_NODE_WINDOW = 32
#: The interpreter with numpy, SimPy and the simulator imported, before a run allocates.
BASE_BYTES = 200e6
#: Bytes per row of a profile trace while the run holds it (two float arrays and the
#: breaks list; more while the CSV is parsed).
BYTES_PER_TRACE_ROW = 400
#: Highest notification rate per feed, the bound of ``workload.rate``: a profile's peak
#: times ``workload.rate`` is held to it too.
MAX_RATE_PER_FEED = 1e6
#: SimPy events of one churn flip (going offline or coming back: the flip, a connection
#: set-up or its close).
EVENTS_PER_FLIP = 3


@dataclass(frozen=True)
class Load:
    """What the run carries over time, as the estimate sees it (multipliers of the config's values)."""

    rate_peak: float  # largest multiplier of workload.rate
    rate_mean: float  # its mean over warm-up and window
    online_mean: float  # mean share of clients.count online (profile and churn)
    trace_rows: int  # rows of a profile trace held in memory


@lru_cache(maxsize=16)
def _profile_shape(profile_json: str, span: float, stamp: tuple[int, int]) -> tuple[float, float, int]:
    """(peak, mean over [0, span], rows) of a profile; cached by its file's size and mtime."""
    shape = LoadProfile(ProfileSection.model_validate_json(profile_json))
    rows = len(shape.breaks) if shape.kind == "trace" else 0
    return shape.peak, shape.integral(0.0, span) / span, rows


def load_of(config: ExperimentConfig) -> Load:
    """The run's peak and mean load: its ``[profile]`` and churn (all 1 and 0 rows without them)."""
    e, c = config.experiment, config.clients
    span = e.warmup + e.duration
    rate_peak = rate_mean = clients_mean = 1.0
    rows = 0
    profile = config.profile
    if profile is not None:
        stamp = (0, 0)
        if profile.kind == "trace":
            info = os.stat(profile.file)
            stamp = (info.st_size, info.st_mtime_ns)
        peak, mean, rows = _profile_shape(profile.model_dump_json(), span, stamp)
        if "rate" in profile.applies_to:
            rate_peak, rate_mean = peak, mean
        if "clients" in profile.applies_to:
            clients_mean = mean
    online = c.session / (c.session + c.offline) if c.session > 0 else 1.0
    return Load(rate_peak, rate_mean, clients_mean * online, rows)


def held_seconds(config: ExperimentConfig) -> float:
    """How long a notification may wait for its reader (seconds, within [1 s, the run]).

    As the mechanism says (``Mechanism.read_delay``): a poller reads every interval, a
    connected client at once, a disconnected one after at most ``backoff.max``; with
    churn, a client offline (a share ``offline / (session + offline)`` of the time) reads
    what was published meanwhile when it comes back, after ``clients.offline`` on average.
    """
    e, c = config.experiment, config.clients
    wait = float(mechanism_of(config).read_delay(config))
    if c.session > 0:
        wait += c.offline * c.offline / (c.session + c.offline)
    return min(max(wait, 1.0), e.warmup + e.duration)


def memory_breakdown(config: ExperimentConfig) -> dict[str, float]:
    """A coarse upper estimate of the memory a run needs (bytes), by the key that drives it.

    A mechanism may declare ``bytes_per_client`` (array-based push mechanisms need far
    less than one SimPy process per client; the default covers a client process) and
    ``bytes_per_held_delivery``.  Notifications are held at the profile's peak rate.
    """
    cls = mechanism_of(config)
    e, s = config.experiment, config.server
    load = load_of(config)
    clients = config.clients.count
    per_client = cls.bytes_per_client
    per_held = cls.bytes_per_held_delivery
    windows = math.ceil((e.warmup + e.duration) / e.sample_every)
    parts = {
        "clients.count": BASE_BYTES + per_client * clients,
        # every client is owed `rate` notifications per second, whatever the pattern
        "workload.rate": per_held * clients * config.workload.rate * load.rate_peak * held_seconds(config),
        "server.workers": BYTES_PER_WORKER * s.workers * s.nodes,
        "experiment.sample_every": BYTES_PER_NODE_WINDOW * windows * s.nodes,
    }
    if load.trace_rows:
        parts["profile.file"] = BYTES_PER_TRACE_ROW * load.trace_rows
    return parts


def estimate_memory_bytes(config: ExperimentConfig) -> float:
    """A coarse upper estimate of the memory a run needs (bytes); see :func:`memory_breakdown`."""
    return sum(memory_breakdown(config).values())


#: SimPy events per wall-second the engine sustains (measured: 200k-300k on 2 cores), and
#: the longest run (wall seconds) accepted without question.
EVENTS_PER_SECOND = 200_000
MAX_WALL_SECONDS = 24 * 3600
#: A run estimated above either of these starts with one line saying so (``sim run``).
NOTICE_WALL_SECONDS = 5 * 60
NOTICE_BYTES = 4 * 2**30


def idle_sweeps_per_second(config: ExperimentConfig) -> float:
    """Most wake-ups per simulated second of the idle sweeper, as the mechanism says."""
    return mechanism_of(config).idle_sweeps_per_second(config)


def _client_rate(config: ExperimentConfig, load: Load) -> float:
    """A client's events per simulated second, at the run's mean rate (the mechanism's hook)."""
    w = config.workload
    if load.rate_mean != 1.0:
        w = w.model_copy(update={"rate": w.rate * load.rate_mean})
    return mechanism_of(config).events_per_client_second(config.mechanism.params, w)


def estimate_events(config: ExperimentConfig) -> float:
    """A rough count of the SimPy events a run needs.

    A mechanism may declare ``events_per_client_second(params, workload)`` (a poll is
    two events, a webhook attempt one); fan-out to open connections is array work and
    counts one event per publish; the idle sweeper counts its wake-ups (an upper bound).
    Over a profile, at its mean rate and online population; churn adds its flips.
    """
    e, c = config.experiment, config.clients
    load = load_of(config)
    span = e.warmup + e.duration
    w = config.workload
    feeds = {"per_client": c.count, "broadcast": 1}.get(w.pattern, w.topics)
    online = c.count * load.online_mean
    sweeps = idle_sweeps_per_second(config)
    flips = EVENTS_PER_FLIP * 2 / (c.session + c.offline) * c.count if c.session > 0 else 0.0
    return span * (online * _client_rate(config, load) + feeds * w.rate * load.rate_mean + sweeps + flips) + c.count


#: Wall time of one step of the drain loop, in events (measured ~86 us a step, 4 SSE clients).
DRAIN_STEP_EVENTS = 20


def estimate_drain_events(config: ExperimentConfig) -> float:
    """The most SimPy events the drain may take: clients keep polling and reconnecting
    (nothing is published) for all of ``experiment.drain`` when something stays
    undelivered, e.g. behind a node down until after it; plus one step per sample window."""
    e = config.experiment
    client_rate = _client_rate(config, load_of(config))
    steps = e.drain / max(e.sample_every, 0.1)  # the runner's drain loop
    return e.drain * (config.clients.count * client_rate + idle_sweeps_per_second(config)) + steps * DRAIN_STEP_EVENTS


def estimate_wall_seconds(config: ExperimentConfig) -> float:
    """Wall seconds the run should take: its events (the drain's worst case included) at
    ``EVENTS_PER_SECOND``."""
    return (estimate_events(config) + estimate_drain_events(config)) / EVENTS_PER_SECOND


def notice(config: ExperimentConfig, source: str = "config") -> str | None:
    """One line for a run expected to take more than ``NOTICE_WALL_SECONDS`` or
    ``NOTICE_BYTES`` (its estimated wall time and memory); None for a smaller one."""
    wall, need = estimate_wall_seconds(config), estimate_memory_bytes(config)
    if wall <= NOTICE_WALL_SECONDS and need <= NOTICE_BYTES:
        return None
    return (f"note: {source}: a large run: about {_duration(wall)} and {need / 2**30:.1f} GiB of memory"
            " (estimated up front; docs/design.md §8)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def check_fits(config: ExperimentConfig, source: str = "config") -> None:
    """Refuse up front a config too large for the machine: memory it lacks, or days of events.

    Also a profile whose peak drives ``workload.rate`` above its bound (``MAX_RATE_PER_FEED``),
    as ``workload.rate`` itself is refused there.
    """
    load = load_of(config)
    peak_rate = config.workload.rate * load.rate_peak
    if peak_rate > MAX_RATE_PER_FEED:
        raise ConfigError(
            f"error: {source}: profile.{_profile_key(config)}: its peak multiplier {load.rate_peak:g} times"
            f" workload.rate = {config.workload.rate:g} is {peak_rate:.3g} notifications/s per feed,"
            f" above the {MAX_RATE_PER_FEED:g} allowed for workload.rate"
        )
    run_events = estimate_events(config)
    drain_events = estimate_drain_events(config)
    events = run_events + drain_events
    hours = events / EVENTS_PER_SECOND / 3600
    if hours * 3600 > MAX_WALL_SECONDS:
        span = config.experiment.warmup + config.experiment.duration
        sweeps = idle_sweeps_per_second(config) * span
        if drain_events > run_events:
            key = "experiment.drain"
            why = "the drain's worst case, when something stays undelivered through all of it; use a shorter drain"
        elif sweeps > events / 2:
            key = "cluster.idle_timeout"
            why = (f"the idle sweeper alone wakes up to {sweeps:.2g} times (every idle_timeout/"
                   f"{SWEEPS_PER_IDLE_TIMEOUT}); use a longer idle_timeout, or 0 for none")
        else:
            key, why = "experiment.duration", "shorten the run, use fewer clients or a longer interval"
        raise ConfigError(
            f"error: {source}: {key}: about {events:.2g} SimPy events,"
            f" ~{hours:,.0f} hours at {EVENTS_PER_SECOND:,} events/s; {why}"
        )
    try:
        import psutil

        available = psutil.virtual_memory().available
    except Exception:  # psutil missing or unreadable: do not guess
        return
    parts = memory_breakdown(config)
    need = sum(parts.values())
    if need > available:
        key = max(parts, key=parts.__getitem__)
        raise ConfigError(
            f"error: {source}: {key}: {_memory_reason(config, key)} need about"
            f" {parts[key] / 2**30:.1f} GiB (the whole run {need / 2**30:.1f} GiB),"
            f" more than the {available / 2**30:.1f} GiB available"
        )


def _profile_key(config: ExperimentConfig) -> str:
    return {"trace": "file", "steps": "points"}.get(config.profile.kind, "kind") if config.profile else "kind"


def _memory_reason(config: ExperimentConfig, key: str) -> str:
    s = config.server
    if key == "profile.file":
        return f"the trace's {load_of(config).trace_rows:,} rows"
    if key == "workload.rate":
        peak = load_of(config).rate_peak
        at_peak = f" (x{peak:g} at the profile's peak)" if peak != 1.0 else ""
        return (f"{config.workload.rate:g} notifications/s{at_peak} to each of {config.clients.count:,} clients,"
                f" held up to {held_seconds(config):g} s before they are read,")
    if key == "server.workers":
        return f"{s.workers:,} workers on each of {s.nodes:,} nodes"
    if key == "experiment.sample_every":
        return f"the CPU series of {s.nodes:,} nodes, one value per sample_every window,"
    return f"{config.clients.count:,} clients"


