"""Running one experiment: build the simulation, run it, check its books."""

from __future__ import annotations

import gc
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from simulator.config import ExperimentConfig
from simulator.engine.mechanism import RunningMechanism, mechanism_of
from simulator.engine.metrics import node_cpu
from simulator.engine.simulation import Simulation
from simulator.engine.summary import build_metrics, check_books

VERSION = "0.1.0"


@dataclass
class Result:
    """What one run produced: metrics (deterministic), run info (not), series."""

    config: ExperimentConfig
    metrics: dict[str, float]
    run: dict[str, Any]
    timeseries: dict[str, np.ndarray] = field(repr=False)
    latency_cdf: tuple[np.ndarray, np.ndarray] = field(repr=False)


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
    mechanism_cls = mechanism_of(config)
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


def _simulate(config: ExperimentConfig, sim: Simulation, mechanism: RunningMechanism,
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


def _drain(sim: Simulation, mechanism: RunningMechanism) -> float:
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
