"""Running one experiment: build the simulation, run it, check its books."""

from __future__ import annotations

import gc
import math
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from simulator.config import ConfigError, ExperimentConfig, registry
from simulator.engine.connections.persistent import SWEEPS_PER_IDLE_TIMEOUT
from simulator.engine.metrics import node_cpu
from simulator.engine.simulation import Simulation
from simulator.engine.summary import build_metrics, check_books

VERSION = "0.1.0"

#: Bytes per worker slot of a node (a heap entry, a float once used) and per node-window
#: of the CPU series.
BYTES_PER_WORKER = 32
BYTES_PER_NODE_WINDOW = 32


@dataclass
class Result:
    """What one run produced: metrics (deterministic), run info (not), series."""

    config: ExperimentConfig
    metrics: dict[str, float]
    run: dict[str, Any]
    timeseries: dict[str, np.ndarray] = field(repr=False)
    latency_cdf: tuple[np.ndarray, np.ndarray] = field(repr=False)


def held_seconds(config: ExperimentConfig) -> float:
    """How long a notification may wait for its reader (seconds, within [1 s, the run]).

    As the mechanism says (``Mechanism.read_delay``): a poller reads every interval, a
    connected client at once, a disconnected one after at most ``backoff.max``.
    """
    e = config.experiment
    wait = registry.get(config.mechanism.kind).read_delay(config)
    return min(max(float(wait), 1.0), e.warmup + e.duration)


def memory_breakdown(config: ExperimentConfig) -> dict[str, float]:
    """A coarse upper estimate of the memory a run needs (bytes), by the key that drives it.

    A mechanism may declare ``bytes_per_client`` (array-based push mechanisms need far
    less than one SimPy process per client; the default covers a client process) and
    ``bytes_per_held_delivery``.
    """
    cls = registry.get(config.mechanism.kind)
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
    return registry.get(config.mechanism.kind).idle_sweeps_per_second(config)


def estimate_events(config: ExperimentConfig) -> float:
    """A rough count of the SimPy events a run needs.

    A mechanism may declare ``events_per_client_second(params, workload)`` (a poll is
    two events, a webhook attempt one); fan-out to open connections is array work and
    counts one event per publish; the idle sweeper counts its wake-ups (an upper bound).
    """
    cls = registry.get(config.mechanism.kind)
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
    cls = registry.get(config.mechanism.kind)
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


def run(
    config: ExperimentConfig,
    progress: Callable[[float, float], None] | None = None,
    watch: Callable[[Simulation], None] | None = None,
) -> Result:
    """Simulate ``config`` once; raise if the books do not balance.

    ``progress(now, end)`` is called about every 1 % of simulated time, and so is
    ``watch(sim)``, which may stop the run by raising (``engine/early_stop.py``);
    neither changes the metrics.
    """
    mechanism_cls = registry.get(config.mechanism.kind)
    started = time.perf_counter()
    start_stamp = datetime.now(UTC).isoformat(timespec="seconds")
    # Building a million clients' state allocates millions of objects (a feed's list per
    # client): without the cyclic collector, which would walk them again and again, and
    # frozen afterwards so that the run's collections skip them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        sim = Simulation(config)
        mechanism = mechanism_cls(sim)
        mechanism.start()
        sim.env.process(_sampler(sim))
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    try:
        return _simulate(config, sim, mechanism, progress, watch, started, start_stamp)
    finally:
        gc.unfreeze()


def _simulate(config: ExperimentConfig, sim: Simulation, mechanism: Any,
              progress: Callable[[float, float], None] | None,
              watch: Callable[[Simulation], None] | None, started: float, start_stamp: str) -> Result:
    env = sim.env
    simulating, simulating_cpu = time.perf_counter(), time.process_time()
    if progress is None and watch is None:
        env.run(until=sim.t_end)
    else:
        step = sim.t_end / 100
        t = 0.0
        while t < sim.t_end:
            t = min(sim.t_end, t + step)
            env.run(until=t)
            if progress is not None:
                progress(t, sim.t_end)
            if watch is not None:
                watch(sim)
    _sample_last_window(sim)
    drained = _drain(sim, mechanism)
    simulated, simulated_cpu = time.perf_counter(), time.process_time()
    sim.cluster.settle(sim.env.now)
    pending = mechanism.pending() + sim.metrics.in_flight
    metrics = build_metrics(sim, pending)
    check_books(metrics)
    wall = time.perf_counter() - started
    simpy_events = _events_processed(env)
    actions = sum(calendar.handled for calendar in sim.calendars)
    events = simpy_events + actions
    run_info = {
        "version": VERSION,
        "wall_seconds": wall,
        "events_processed": events,  # SimPy's events and calendar actions (each costs about as much)
        "simpy_events": simpy_events,
        "calendar_actions": actions,
        "events_per_second": events / wall if wall > 0 else 0.0,
        # wall seconds building the clients, simulating (window and drain), and the rest
        "setup_seconds": simulating - started,
        "simulate_seconds": simulated - simulating,
        "simulate_cpu_seconds": simulated_cpu - simulating_cpu,  # this process's CPU: a shared machine
        "drained_seconds": drained,
        "started": start_stamp,
        "host": socket.gethostname(),
        "python": platform.python_version(),
    }
    return Result(config, metrics, run_info, _timeseries(sim), sim.metrics.latency.cdf())


def _drain(sim: Simulation, mechanism: Any) -> float:
    """Run on after the window until no notification of it is outstanding; seconds drained.

    Nothing new is published and nothing but deliveries (and losses) of window
    notifications is measured; the drain stops at ``experiment.drain`` at the
    latest.  Without it, deliveries still on their way at the window's end would
    be left out of the latency figures and bias them low by about Var(delay)/duration.
    A mechanism may define ``outstanding()`` (side-effect free); the default is
    what the event log holds unread.
    """
    env = sim.env
    stop = sim.metrics.t_stop
    outstanding = mechanism.outstanding
    step = max(sim.config.experiment.sample_every, 0.1)
    while env.now < stop and outstanding() > 0:
        env.run(until=min(stop, env.now + step))
    return env.now - sim.t_end


def _sample_last_window(sim: Simulation) -> None:
    """The gauges at ``t_end``, before the drain (SimPy's ``run(until=t)`` stops short of t)."""
    m = sim.metrics
    sim.cluster.settle(sim.t_end)
    m.start_window(sim.cluster.node_connections())  # the values at t_end are inside the window
    m.sample(sim.t_end, sim.cluster.memory_now())


def _sampler(sim: Simulation):
    """Samples the gauges at the end of every window; marks the start of the measured window."""
    env, m, cluster = sim.env, sim.metrics, sim.cluster
    step = m.sample_every
    started = False
    for w in range(m.n_windows - 1):  # the last window is sampled by the runner at t_end
        t = min((w + 1) * step, sim.t_end)
        if not started and t >= sim.t_start:
            if sim.t_start > env.now:
                yield env.timeout(sim.t_start - env.now)
            cluster.settle(env.now)
            m.start_window(cluster.node_connections())
            started = True
        if t > env.now:
            yield env.timeout(t - env.now)
        cluster.settle(env.now)
        m.sample(env.now, cluster.memory_now())
    if not started:  # t_start falls in the last window (or there is only one)
        if sim.t_start > env.now:
            yield env.timeout(sim.t_start - env.now)
        cluster.settle(env.now)
        m.start_window(cluster.node_connections())


def _events_processed(env) -> int:
    # SimPy numbers every scheduled event with a monotonically increasing id.
    return int(next(env._eid)) if hasattr(env, "_eid") else 0


def _timeseries(sim: Simulation) -> dict[str, np.ndarray]:
    m = sim.metrics
    step = m.sample_every
    n = m.n_windows
    time_s = np.arange(n) * step
    widths = np.minimum(step, sim.t_end - time_s)
    cluster = sim.cluster
    if cluster.dynamic:
        nodes = np.array([cluster.node_seconds(t, t + w) / w for t, w in zip(time_s, widths, strict=True)])
        working = np.array([cluster.node_seconds(t, t + w, working=True) for t, w in zip(time_s, widths, strict=True)])
        capacity = sim.config.server.workers * working
    else:
        nodes = np.full(n, float(sim.config.server.nodes))
        capacity = sim.config.server.workers * sim.config.server.nodes * widths
    busy = np.sum(np.asarray(m.w_busy, dtype=float), axis=0)
    cpu = np.divide(busy, capacity, out=np.zeros(n), where=capacity > 0) if cluster.dynamic else busy / capacity
    idle = sim.config.server.idle_cpu
    if idle:  # server.idle_cpu while up (not while crashed), plus the work's share
        node_seconds = capacity / sim.config.server.workers
        down = np.array([cluster.crash_seconds(t, t + w) for t, w in zip(time_s, widths, strict=True)])
        up = np.clip(np.divide(node_seconds - down, node_seconds, out=np.zeros(n), where=node_seconds > 0), 0.0, 1.0)
        cpu = node_cpu(cpu, idle, up)
    q = m.window_latency_quantiles((0.5, 0.99))
    return {
        "time": time_s,
        "open_connections": np.asarray(m.w_connections, dtype=float),
        "requests_per_second": np.asarray(m.w_requests, dtype=float) / widths,
        "deliveries_per_second": np.asarray(m.w_deliveries, dtype=float) / widths,
        "cpu_busy_fraction": cpu,
        "bytes_per_second": np.asarray(m.w_bytes, dtype=float) / widths,
        "memory_bytes": np.asarray(m.w_memory, dtype=float),
        "latency_p50": q[:, 0],
        "latency_p99": q[:, 1],
        "reconnects_per_second": np.asarray(m.w_reconnects, dtype=float) / widths,
        "clients_online": sim.presence.series(),
        "nodes": nodes,  # mean billed nodes in each window
    }


def is_finite_metrics(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in metrics.values())
