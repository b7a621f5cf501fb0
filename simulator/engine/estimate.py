"""Up-front estimates of a run's memory and events, and the refusal of runs too large.

Kept apart from the runner (docs/design.md §8): the CLI, sweeps and plans call
:func:`check_fits` before anything runs.
"""

from __future__ import annotations

import math

from simulator.config import ConfigError, ExperimentConfig
from simulator.engine.connections.persistent import SWEEPS_PER_IDLE_TIMEOUT
from simulator.engine.mechanism import mechanism_of

#: Bytes per worker slot of a node (a heap entry, a float once used) and per node-window
#: of the CPU series.
BYTES_PER_WORKER = 32
BYTES_PER_NODE_WINDOW = 32

def held_seconds(config: ExperimentConfig) -> float:
    """How long a notification may wait for its reader (seconds, within [1 s, the run]).

    As the mechanism says (``Mechanism.read_delay``): a poller reads every interval, a
    connected client at once, a disconnected one after at most ``backoff.max``.
    """
    e = config.experiment
    wait = mechanism_of(config).read_delay(config)
    return min(max(float(wait), 1.0), e.warmup + e.duration)


def memory_breakdown(config: ExperimentConfig) -> dict[str, float]:
    """A coarse upper estimate of the memory a run needs (bytes), by the key that drives it.

    A mechanism may declare ``bytes_per_client`` (array-based push mechanisms need far
    less than one SimPy process per client; the default covers a client process) and
    ``bytes_per_held_delivery``.
    """
    cls = mechanism_of(config)
    e, s = config.experiment, config.server
    clients = config.clients.count
    per_client = cls.bytes_per_client
    per_held = cls.bytes_per_held_delivery
    windows = math.ceil((e.warmup + e.duration) / e.sample_every)
    return {
        "clients.count": 200e6 + per_client * clients,
        # every client is owed `rate` notifications per second, whatever the pattern
        "workload.rate": per_held * clients * config.workload.rate * held_seconds(config),
        "server.workers": BYTES_PER_WORKER * s.workers * s.nodes,
        "experiment.sample_every": BYTES_PER_NODE_WINDOW * windows * s.nodes,
    }


def estimate_memory_bytes(config: ExperimentConfig) -> float:
    """A coarse upper estimate of the memory a run needs (bytes); see :func:`memory_breakdown`."""
    return sum(memory_breakdown(config).values())


#: SimPy events per wall-second the engine sustains (measured: 200k-300k on 2 cores), and
#: the longest run (wall seconds) accepted without question.
EVENTS_PER_SECOND = 200_000
MAX_WALL_SECONDS = 24 * 3600


def idle_sweeps_per_second(config: ExperimentConfig) -> float:
    """Most wake-ups per simulated second of the idle sweeper, as the mechanism says."""
    return mechanism_of(config).idle_sweeps_per_second(config)


def estimate_events(config: ExperimentConfig) -> float:
    """A rough count of the SimPy events a run needs.

    A mechanism may declare ``events_per_client_second(params, workload)`` (a poll is
    two events, a webhook attempt one); fan-out to open connections is array work and
    counts one event per publish; the idle sweeper counts its wake-ups (an upper bound).
    """
    cls = mechanism_of(config)
    e = config.experiment
    span = e.warmup + e.duration
    w = config.workload
    feeds = {"per_client": config.clients.count, "broadcast": 1}.get(w.pattern, w.topics)
    client_rate = cls.events_per_client_second(config.mechanism.params, w)
    sweeps = idle_sweeps_per_second(config)
    return span * (config.clients.count * client_rate + feeds * w.rate + sweeps) + config.clients.count


#: Wall time of one step of the drain loop, in events (measured ~86 us a step, 4 SSE clients).
DRAIN_STEP_EVENTS = 20


def estimate_drain_events(config: ExperimentConfig) -> float:
    """The most SimPy events the drain may take: clients keep polling and reconnecting
    (nothing is published) for all of ``experiment.drain`` when something stays
    undelivered, e.g. behind a node down until after it; plus one step per sample window."""
    cls = mechanism_of(config)
    e = config.experiment
    client_rate = cls.events_per_client_second(config.mechanism.params, config.workload)
    steps = e.drain / max(e.sample_every, 0.1)  # the runner's drain loop
    return e.drain * (config.clients.count * client_rate + idle_sweeps_per_second(config)) + steps * DRAIN_STEP_EVENTS


def check_fits(config: ExperimentConfig, source: str = "config") -> None:
    """Refuse up front a config too large for the machine: memory it lacks, or days of events."""
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


def _memory_reason(config: ExperimentConfig, key: str) -> str:
    s = config.server
    if key == "workload.rate":
        return (f"{config.workload.rate:g} notifications/s to each of {config.clients.count:,} clients,"
                f" held up to {held_seconds(config):g} s before they are read,")
    if key == "server.workers":
        return f"{s.workers:,} workers on each of {s.nodes:,} nodes"
    if key == "experiment.sample_every":
        return f"the CPU series of {s.nodes:,} nodes, one value per sample_every window,"
    return f"{config.clients.count:,} clients"


