"""One testbed run: start and pin the server, run the clients, crash it if asked, measure.

The run is bounded (:data:`MAX_CLIENTS`, :data:`MAX_SECONDS`, :data:`MAX_DELIVERIES_PER_SECOND`,
a drain of at most :data:`MAX_DRAIN_SECONDS`, a hard timeout on the whole) and always
stops the server process it started.  What it measured is written under the metric
names of a simulated run (``summary.json`` → ``metrics``); what only a testbed knows
(CPU seconds of server and load generator, the cores, the RSS samples) goes to
``summary.json`` → ``run`` and ``samples.csv``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import platform
import shlex
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

try:  # the optional extra .[testbed] (simulator/testbed/extra.py): without it, sim runs the rest
    import aiohttp
    import websockets
except ImportError:
    aiohttp = websockets = None

from simulator.config import ConfigError, ExperimentConfig
from simulator.config.load import validate_config
from simulator.engine.catalogue import BY_NAME, derive_from
from simulator.engine.summary import check_books
from simulator.output.atomic import write_atomic
from simulator.output.results import config_toml
from simulator.testbed.loadgen import LoadGenerator, receiver_site
from simulator.testbed.wire import EventLog

#: Bounds of one testbed run: a testbed is a bench, not a load test of the machine.
MAX_CLIENTS = 5000
MAX_SECONDS = 300.0
MAX_DELIVERIES_PER_SECOND = 20_000.0
MAX_DRAIN_SECONDS = 10.0
#: Seconds between the server reporting ready and time 0 (the clients' tasks start).
START_DELAY = 0.5
#: The load generator's event-loop lag p99 above which a run did not keep its schedule (run.loadgen_kept_schedule).
MAX_LOOP_LAG_P99_SECONDS = 0.010
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Measured:
    """What one testbed run measured: metrics under the simulator's names, run info, samples."""
    config: ExperimentConfig
    metrics: dict[str, float]
    run: dict[str, Any]
    samples: list[tuple[float, float, float, float]]  # t, open connections, server RSS, server CPU s


def testbed_config(config: ExperimentConfig, source: str) -> tuple[ExperimentConfig, list[str]]:
    """The config as the testbed runs it (plain HTTP, one single-core node), or ConfigError."""
    e = config.experiment
    problems = []
    if config.clients.count > MAX_CLIENTS:
        problems.append(f"clients.count: the testbed runs at most {MAX_CLIENTS} clients, got {config.clients.count}")
    if e.warmup + e.duration > MAX_SECONDS:
        problems.append(f"experiment.duration: warmup + duration must be <= {MAX_SECONDS:g} s on the testbed,"
                        f" got {e.warmup + e.duration:g} s")
    feeds_per_client = 1
    deliveries = config.workload.rate * config.clients.count * feeds_per_client
    if deliveries > MAX_DELIVERIES_PER_SECOND:
        problems.append(f"workload.rate: {deliveries:g} deliveries/s; the testbed is bounded at"
                        f" {MAX_DELIVERIES_PER_SECOND:g}")
    if config.server.nodes != 1:
        problems.append(f"server.nodes: the testbed runs one server process, got {config.server.nodes}")
    if config.workload.payload < 64:
        problems.append(f"workload.payload: the testbed's payload carries its id and publish time: at least 64 B,"
                        f" got {config.workload.payload:g}")
    for i, failure in enumerate(config.failures):
        if failure.kind != "node_crash":
            problems.append(f"failures[{i}].kind: the testbed kills the server process (node_crash) only")
    if config.profile is not None or config.autoscale is not None or config.operations:
        problems.append("profile/autoscale/operations: not run on the testbed")
    if problems:
        raise ConfigError([f"error: {source}: {p}" for p in problems])
    data = config.to_dict()
    notes = []
    if data["http"]["tls"] != "none":
        notes.append(f"http.tls = {data['http']['tls']!r} runs as 'none': the testbed speaks plain HTTP on loopback")
    if data["server"]["workers"] != 1:
        notes.append(f"server.workers = {data['server']['workers']} runs as 1: the server is one asyncio process (one core)")
    data["http"]["tls"] = "none"
    data["server"]["workers"] = 1
    data["experiment"]["drain"] = min(e.drain, MAX_DRAIN_SECONDS)
    return validate_config(data, source), notes


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(server core, load generator core) when there are two or more, else (None, None)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return {cores[0]}, set(cores[1:])


class ServerProcess:
    """The server subprocess: started, killed (a crash), restarted, always stopped."""

    def __init__(self, config_path: Path, port: int, receivers: str | None, core: set[int] | None,
                 emulate: bool = False, command: list[str] | None = None):
        self.command = command  # --server-cmd: the user's own server (no `ready` line: its port is polled)
        self.port = port
        self.args = command or [sys.executable, "-m", "simulator.testbed.server", str(config_path), "--port", str(port)]
        if emulate:
            self.args.append("--emulate-costs")
        if receivers:
            self.args += ["--receivers", receivers]
        self.core = core
        self.proc: asyncio.subprocess.Process | None = None
        self.ps: psutil.Process | None = None

    async def spawn(self, t0: float | None = None, listen_at: float | None = None) -> None:
        """Start the process (it imports and builds its state, then listens at ``listen_at``)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])}
        args = self.args
        if self.command is None:
            args = args + (["--t0", repr(t0)] if t0 is not None else [])
            args += ["--listen-at", repr(listen_at)] if listen_at is not None else []
        out = None if self.command else asyncio.subprocess.PIPE
        self.proc = await asyncio.create_subprocess_exec(*args, stdout=out, env=env,
                                                         start_new_session=True)
        self.ps = psutil.Process(self.proc.pid)
        if self.core:
            os.sched_setaffinity(self.proc.pid, self.core)

    async def start(self, t0: float | None = None) -> None:
        """Spawn the server and wait until it says it is ready."""
        await self.spawn(t0)
        await self.ready()

    async def ready(self) -> None:
        """Wait (at most 60 s) for the server's `ready` line (a --server-cmd server: its port to accept)."""
        if self.command is not None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"--server-cmd exited with {self.proc.returncode} before listening")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                except OSError:
                    await asyncio.sleep(0.05)
            await self.stop()
            raise RuntimeError(f"--server-cmd did not listen on 127.0.0.1:{self.port} within 60 s")
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            await self.stop()
            raise RuntimeError("the testbed server did not start (see its error output above)")

    def cpu_seconds(self) -> float:
        """The server's user + system CPU seconds so far (0 once it is gone)."""
        try:
            t = self.ps.cpu_times()
            return t.user + t.system
        except (psutil.Error, AttributeError):
            return 0.0

    def rss(self) -> float:
        """The server's resident memory in bytes (NaN once it is gone)."""
        try:
            return float(self.ps.memory_info().rss)
        except (psutil.Error, AttributeError):
            return float("nan")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        """Terminate the server, then kill it if it has not exited within 5 s."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.kill()
            await self.proc.wait()


class MeasuredPid:
    """--server-pid: a server process of the user's, measured (CPU seconds, RSS), never started or stopped."""

    def __init__(self, pid: int):
        self.ps = psutil.Process(pid)

    cpu_seconds = ServerProcess.cpu_seconds
    rss = ServerProcess.rss


class CpuClock:
    """CPU seconds of a process inside the window, across restarts."""

    def __init__(self, read):
        self.read = read
        self.total = 0.0
        self.mark: float | None = None

    def begin(self) -> None:
        """Start counting CPU seconds."""
        self.mark = self.read()

    def end(self) -> None:
        """Stop counting and add the CPU seconds since `begin`."""
        if self.mark is not None:
            self.total += self.read() - self.mark
        self.mark = None


def run_testbed(config: ExperimentConfig, workdir: Path, target: str | None = None,
                emulate_costs: bool = False, server_cmd: str | None = None,
                server_pid: int | None = None) -> Measured:
    """Run ``config`` (already :func:`testbed_config`) on the testbed; ``workdir`` holds its config file.

    ``server_cmd``: the user's server, started (pinned, measured, killed for a crash) with
    ``{schedule}`` and ``{port}`` replaced; ``server_pid``: the user's running server,
    measured only.  With a plain ``target`` nothing is measured server-side.
    ``emulate_costs``: the server also busy-loops ``server.request_cost`` per request and
    ``server.message_cost`` per message (a slower stack, or a saturation test), on top of
    what it naturally spends.
    """
    e = config.experiment
    budget = START_DELAY + e.warmup + e.duration + e.drain + 60 + max((f.duration for f in config.failures), default=0)
    mine = os.sched_getaffinity(0)
    try:
        return asyncio.run(asyncio.wait_for(_run(config, workdir, target, emulate_costs, server_cmd, server_pid),
                                            budget))
    finally:
        os.sched_setaffinity(0, mine)


async def _stats(session: aiohttp.ClientSession, base: str) -> dict | None:
    """The server's counters; None while it is down (a fresh connection each time: it may have been killed)."""
    try:
        async with session.get(f"{base}/_testbed/stats", timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return await resp.json() if resp.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError, json.JSONDecodeError):
        return None


async def _loop_lag(lags: list[float], window) -> None:
    """How late this process's event loop wakes (the load generator keeping up, or not)."""
    step = 0.05
    while True:
        before = time.monotonic()
        await asyncio.sleep(step)
        if window():
            lags.append(time.monotonic() - before - step)


async def _run(config: ExperimentConfig, workdir: Path, target: str | None, emulate: bool,
               server_cmd: str | None = None, server_pid: int | None = None) -> Measured:
    e = config.experiment
    wall_start = time.perf_counter()
    server_core, client_core = _cores()  # the load generator is pinned with --target too
    if client_core:
        os.sched_setaffinity(0, client_core)
    config_path = workdir / "testbed_config.toml"
    config_path.write_text(config_toml(config.to_dict()), encoding="utf-8")
    receivers_port = free_port()
    receivers = f"http://127.0.0.1:{receivers_port}"
    server = None
    if server_cmd is not None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        schedule = workdir / "schedule.json"
        export_schedule(config, schedule)
        command = [a.format(schedule=schedule, port=port, config=config_path) for a in shlex.split(server_cmd)]
        server = ServerProcess(config_path, port, None, server_core, command=command)
    elif target is None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = ServerProcess(config_path, port, receivers if config.mechanism.kind == "webhook" else None,
                               server_core, emulate)
    else:
        base = target.rstrip("/")
    receiver_runner = None
    lives: list[dict] = []
    crash_drops: list[int] = []
    spares: list[ServerProcess] = []  # replacements spawned ahead of a crash: stopped in any case  # the last stats of each server life (counts only the window)
    samples: list[tuple[float, float, float, float]] = []
    gauge = MeasuredPid(server_pid) if server_pid is not None else server  # what psutil measures
    server_cpu = CpuClock(gauge.cpu_seconds if gauge else lambda: 0.0)
    self_ps = psutil.Process()
    client_cpu = CpuClock(lambda: sum(self_ps.cpu_times()[:2]))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    lags: list[float] = []
    tasks: list[asyncio.Task] = []
    try:
        if server is not None:
            await server.start()
        t0 = time.time() + START_DELAY
        w0, w1 = t0 + e.warmup, t0 + e.warmup + e.duration
        gen = LoadGenerator(config, base, t0, stop_at=w1 + e.drain)
        if config.mechanism.kind == "webhook":
            receiver_runner = await receiver_site(gen.receiver_app(), receivers_port)
        async with session.post(f"{base}/_testbed/start", params={"t0": repr(t0)}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{base}/_testbed/start answered {resp.status}")
        clients = asyncio.ensure_future(gen.clients())

        async def at(epoch: float) -> None:
            await gen.sleep_until(epoch)

        async def sampler() -> None:
            step = max(0.5, e.sample_every)
            k = 0
            while True:
                k += 1
                await at(t0 + k * step)
                stats = await _stats(session, base)
                if stats is not None:
                    samples.append((k * step, stats["open_connections"],
                                    gauge.rss() if gauge else float("nan"),
                                    gauge.cpu_seconds() if gauge else float("nan")))

        async def window() -> None:
            await at(w0)
            gen.meter.open_window()
            server_cpu.begin()
            client_cpu.begin()
            await at(w1)
            gen.meter.close_window()
            server_cpu.end()
            client_cpu.end()

        async def crash(failure) -> None:
            # the replacement imports and builds its state now, while the server runs: it starts
            # listening when the outage ends, so the outage lasts what the config says
            replacement = copy.copy(server)
            spares.append(replacement)
            if server.command is None:
                await replacement.spawn(t0, listen_at=t0 + failure.at + failure.duration)
            await at(t0 + failure.at - 0.05)
            stats = await _stats(session, base)
            in_window = server_cpu.mark is not None
            server_cpu.end()
            if stats is not None:
                lives.append(stats)
                if gen.tally.in_window(time.time()):
                    crash_drops.append(stats["open_connections"])
            await at(t0 + failure.at)
            killed = server.proc
            killed.send_signal(signal.SIGKILL)
            await killed.wait()
            if server.command is not None:  # the same command again when the outage ends, told t0 again
                await at(t0 + failure.at + failure.duration)
                await replacement.spawn()
            server.proc, server.ps = replacement.proc, replacement.ps
            await server.ready()
            if server.command is not None:
                async with session.post(f"{base}/_testbed/start", params={"t0": repr(t0)}) as resp:
                    resp.raise_for_status()
            if in_window and time.time() < w1:
                server_cpu.begin()

        tasks = [asyncio.ensure_future(sampler()), asyncio.ensure_future(window()),
                 asyncio.ensure_future(_loop_lag(lags, lambda: gen.meter.counting))]
        if server is not None:
            tasks += [asyncio.ensure_future(crash(f)) for f in config.failures]
        owed_per_client = _owed(gen)
        owed = int(owed_per_client.sum())
        await at(w1)
        await tasks[1]
        # long polls held at the window's end answer (empty) within one hold: the model drains them too
        held_until = w1 + (config.mechanism.params.hold if config.mechanism.kind == "long_polling" else 0.0)
        while time.time() < w1 + e.drain and (sum(map(len, gen.tally.received)) < owed or time.time() < held_until):
            await asyncio.sleep(0.1)
        stats = await _stats(session, base)
        if stats is not None:
            lives.append(stats)
        gen.stop()
        await clients
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
        if receiver_runner is not None:
            await receiver_runner.cleanup()
        if server is not None:
            await server.stop()
        for spare in spares:
            await spare.stop()
    metrics = _metrics(config, gen, owed, lives, server_cpu.total, samples)
    if server is not None:  # only a server the testbed kills has dropped connections
        metrics["connections.dropped"] = int(sum(crash_drops))
    if gauge is None:  # not measured: absent, not 0
        for key in ("server.cpu_utilization", "server.cpu_utilization_peak", "server.memory_peak"):
            metrics.pop(key, None)
    check_books(metrics)
    lag_p99 = float(np.quantile(lags, 0.99)) if lags else None
    slope, base_rss = rss_fit(samples)
    run = {
        "testbed": True,
        "target": (f"--server-cmd {server_cmd}" if server_cmd else base if target else "built-in aiohttp server"),
        "server_pid": server_pid,
        "emulated_costs": emulate,
        "wall_seconds": time.perf_counter() - wall_start,
        "server_cpu_seconds": server_cpu.total if gauge else None,
        "loadgen_cpu_seconds": client_cpu.total,
        "loadgen_cpu_fraction": client_cpu.total / e.duration,
        "server_core": sorted(server_core) if server_core else None,
        "loadgen_cores": sorted(client_core) if client_core else None,
        "memory_per_connection_fit": slope,
        "memory_base_fit": base_rss,
        # long polls the server held (answered later): counted only here, sim calibrate fits on it
        "requests_held": int(sum(life["counts"].get("requests.held", 0) for life in lives)),
        "request_cpu": _cpu_shape([x for life in lives for x in life.get("cpu_samples", [])]),
        "client_errors": gen.tally.errors,
        "loadgen_loop_lag_p99_seconds": lag_p99,
        # the clients ran late beyond this bound: the run measured a lighter load than configured
        "loadgen_kept_schedule": lag_p99 is None or lag_p99 <= MAX_LOOP_LAG_P99_SECONDS,
        "loadgen_loop_lag_bound_seconds": MAX_LOOP_LAG_P99_SECONDS,
        "host": host(),
    }
    return Measured(config, metrics, run, samples)


def export_schedule(config: ExperimentConfig, path: Path) -> dict[str, Any]:
    """Write the schedule a foreign server serves (docs/testbed.md, "The schedule file"), atomically.

    Publish times are seconds from t0; a payload's time is t0 + that time, and t0 is
    known only when ``POST /_testbed/start?t0=EPOCH`` arrives.
    """
    log = EventLog.from_config(config)
    e = config.experiment
    data = config.to_dict()
    doc = {
        "format": "notifysim-testbed-schedule/1",
        "clients": int(config.clients.count),
        "client_feed": log.client_feed.tolist(),
        "publish_times_seconds": [t.tolist() for t in log.times],
        "payload_bytes": int(config.workload.payload),
        "payload_template": '{"f":F,"n":SEQ,"t":EPOCH,"p":"xxx..."} padded with x to payload_bytes'
                            " (simulator.testbed.wire.payload)",
        "window_seconds": [e.warmup, e.warmup + e.duration],
        "mechanism": {"kind": config.mechanism.kind, **data["mechanism"]},
        "network": {"latency": data["network"]["latency"]},
        "http": data["http"],
    }
    write_atomic(path, json.dumps(doc) + "\n")
    return doc


def _owed(gen: LoadGenerator) -> np.ndarray:
    """Deliveries owed to each client: its feed's events published in the window."""
    w0 = gen.config.experiment.warmup
    w1 = w0 + gen.config.experiment.duration
    per_feed = np.array([int(np.count_nonzero((t >= w0) & (t <= w1))) for t in gen.log.times])
    return per_feed[gen.log.client_feed]


def _metrics(config: ExperimentConfig, gen: LoadGenerator, owed: int, lives: list[dict], cpu_seconds: float,
             samples: list) -> dict[str, float]:
    e = config.experiment
    span = e.duration
    tally = gen.tally
    counts: dict[str, float] = {}
    for life in lives:
        for key, value in life["counts"].items():
            counts[key] = counts.get(key, 0) + value
    served = bool(lives)
    requests = counts.get("requests", 0) if served else tally.requests
    empty = counts.get("requests.empty", 0) if served else tally.empty
    lat = np.asarray(tally.latencies) if tally.latencies else np.zeros(1)
    delivered = sum(map(len, tally.received))
    missing = owed - delivered
    kind = config.mechanism.kind
    params = config.mechanism.params
    if kind == "websocket" and not params.resume:
        lost = missing
    elif kind == "webhook":
        lost = min(missing, int(counts.get("webhook.gave_up", 0)))
    else:
        lost = 0
    if kind == "webhook":
        down, up = counts.get("network.bytes_down", 0.0), counts.get("network.bytes_up", 0.0)
    else:
        down, up = float(gen.meter.down), float(gen.meter.up)
    pushed = counts.get("messages.pushed", 0)
    upstream = counts.get("messages.upstream", 0)
    payload = config.workload.payload
    payload_bytes = payload * (pushed + upstream if kind in ("sse", "websocket") else delivered + tally.duplicates)
    conns = [s[1] for s in samples if e.warmup <= s[0] <= e.warmup + span] or [0]
    cpu_windows = [(b[3] - a[3]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:], strict=False)
                   if e.warmup <= a[0] and b[0] <= e.warmup + span and b[3] >= a[3]]
    rss = [s[2] for s in samples if s[2] == s[2]]
    # what the testbed measures its own way: latencies exactly, gauges from the samples, CPU and RSS
    measured = {
        "latency.mean": float(lat.mean()),
        "latency.p50": float(np.quantile(lat, 0.50)),
        "latency.p90": float(np.quantile(lat, 0.90)),
        "latency.p99": float(np.quantile(lat, 0.99)),
        "latency.max": float(lat.max()),
        "connections.peak": int(max(conns)),
        "connections.mean": float(np.mean(conns)),
        "server.cpu_utilization": cpu_seconds / span,
        "server.cpu_utilization_peak": max(cpu_windows, default=0.0),
        "server.memory_peak": max(rss, default=0.0),
        "server.nodes": 1.0,
    }
    # the rest from its counters under the engine's counter names: every catalogue entry they supply
    counters = {
        "owed": owed, "delivered": delivered, "lost": lost, "pending": missing - lost,
        "duplicates": tally.duplicates, "requests": int(requests), "empty_requests": empty,
        "messages_pushed": int(pushed), "heartbeats": int(counts.get("messages.heartbeats", 0)),
        "upstream_messages": int(upstream),
        "connections_opened": int(counts.get("connections.opened", 0) if served else tally.opened),
        "reconnects": tally.reconnects, "bytes_down": down, "bytes_up": up, "bytes_total": down + up,
        "payload_total": payload_bytes, "span": span,
        **{f"webhook_{k}": int(counts.get(f"webhook.{k}", 0)) for k in ("attempts", "retries", "gave_up")},
    }
    out = {**measured, **derive_from(counters)}
    order = {name: i for i, name in enumerate(BY_NAME)}
    return {k: (float(v) if isinstance(v, float) else int(v)) for k, v in sorted(out.items(), key=lambda kv: order[kv[0]])}


def rss_fit(samples: list) -> tuple[float | None, float | None]:
    """Server RSS against open connections, least squares: (bytes per connection, bytes at none)."""
    pts = np.array([(s[1], s[2]) for s in samples if s[2] == s[2]])
    if len(pts) < 3 or np.ptp(pts[:, 0]) < 10:
        return None, None
    slope, intercept = np.polyfit(pts[:, 0], pts[:, 1], 1)
    return float(slope), float(intercept)


def _cpu_shape(samples: list[float]) -> dict[str, float] | None:
    """Median and log-space spread of the per-request CPU the handlers measured (the shape of request_cost)."""
    x = np.asarray([s for s in samples if s > 0])
    if len(x) < 20:
        return None
    logs = np.log(x)
    return {"n": len(x), "median": float(np.median(x)), "mean": float(x.mean()), "sigma": float(logs.std())}


def host() -> dict[str, Any]:
    """The machine the measurement ran on (stated with every testbed table)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "aiohttp": aiohttp.__version__, "websockets": websockets.__version__,
            "load_average": os.getloadavg()[0]}
