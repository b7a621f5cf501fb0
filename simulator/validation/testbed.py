"""``sim validate --testbed``: the calibrated model against testbed runs it was not fitted on.

Five runs fit the costs (short polling at two loads: requests and the CPU spent whatever
the traffic, ``server.idle_cpu``; SSE: messages; long polling: held polls; WebSocket:
frames), then the model, with those costs, predicts held-out runs: more clients, another
rate, a killed server.  Each row compares one metric, measured on the testbed and predicted
by the model for the same config and seed (the same notifications), against its target.
For long polling and WebSocket an information row also predicts the CPU with the costs
fitted without that mechanism's fit run (one message cost for every mechanism): the size
of the gap the per-mechanism costs close.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.config import ExperimentConfig, load_config
from simulator.config.load import validate_config
from simulator.engine.runner import run
from simulator.testbed.calibrate import calibrate, server_config
from simulator.testbed.output import write_testbed
from simulator.testbed.run import run_testbed, testbed_config

#: Relative tolerance per metric (issue 15's targets).
TARGETS = {
    "requests.total": 0.02,
    "requests.empty_fraction": 0.02,
    "network.bytes_down": 0.05,
    "network.bytes_up": 0.05,
    "server.cpu_utilization": 0.15,
    "latency.p50": 0.20,
}

BASE = {
    "experiment.seed": 7, "experiment.warmup": "5s", "experiment.duration": "10s", "experiment.drain": "5s",
    "clients.connect_over": "2s", "workload.payload": "200B", "network.latency": "50ms",
    "http.keep_alive_timeout": "75s",
}
#: The fit runs measure 20 s (the held-out ones 10 s): a few tenths of a core over a short
#: window is noisy, and every cost is pinned down by one or two of these runs.
FIT_WINDOW = {"experiment.duration": "20s"}
FIT = {
    # Short polling at 400 and 200 polls/s: the held-out 500 lies beyond both, and the linear
    # cost is a tangent to aiohttp's concave CPU curve, so it is fitted near the load it
    # predicts (at 100 and 300 the same command over-charged 500 by 8 % and 21 % on the idle
    # machine, 2026-12-01; docs/validation.md).
    "fit: short polling, 400 clients": {"mechanism.kind": "short_polling", "clients.count": 400,
                                        "mechanism.interval": "1s", "workload.rate": 0.5, **FIT_WINDOW},
    "fit: SSE, 300 clients, 2 events/s": {"mechanism.kind": "sse", "clients.count": 300, "workload.rate": 2.0,
                                          "mechanism.heartbeat": "1s", **FIT_WINDOW},
    # a third load of the same mix: it separates the CPU spent whatever the traffic (idle_cpu)
    # from the CPU per request
    "fit: short polling, 200 clients": {"mechanism.kind": "short_polling", "clients.count": 200,
                                        "mechanism.interval": "1s", "workload.rate": 0.5, **FIT_WINDOW},
    # One run per mechanism with a cost of its own, at another client count and rate than
    # its held-out case but about the same work per second and mix (long polling ~200
    # requests/s; WebSocket ~1,350 frames/s, half of them pings and pongs): aiohttp's CPU
    # per event falls as the load grows (events share loop iterations), so a cost fitted at
    # half the load over-charges the double, and a ping/pong exchange costs it about 1.4
    # pushed frames, not the 2 the model counts (docs/validation.md, "Against a real server").
    "fit: long polling, 200 clients, 1 event/s": {"mechanism.kind": "long_polling", "clients.count": 200,
                                                  "mechanism.hold": "5s", "workload.rate": 1.0, **FIT_WINDOW},
    "fit: WebSocket, 300 clients, 2.5 events/s": {"mechanism.kind": "websocket", "clients.count": 300,
                                                  "workload.rate": 2.5, "mechanism.heartbeat": "1s", **FIT_WINDOW},
}
HELD_OUT = {
    "short polling, 500 clients": {"mechanism.kind": "short_polling", "clients.count": 500,
                                   "mechanism.interval": "1s", "workload.rate": 0.5},
    "long polling, 400 clients": {"mechanism.kind": "long_polling", "clients.count": 400, "mechanism.hold": "5s",
                                  "workload.rate": 0.5},
    "WebSocket, 400 clients, 2 events/s": {"mechanism.kind": "websocket", "clients.count": 400,
                                           "workload.rate": 2.0, "mechanism.heartbeat": "1s"},
    "SSE, server killed 4 s into the window for 1 s": {"mechanism.kind": "sse", "clients.count": 300, "workload.rate": 1.0,
                                          "mechanism.heartbeat": "1s", "failures": [
                                              {"kind": "node_crash", "node": 0, "at": "9s", "duration": "1s"}],
                                          "mechanism.backoff.initial": "0.2s", "mechanism.backoff.max": "1s"},
}


#: Mechanisms with a CPU cost of their own (sim calibrate fits it on their fit run).
MECHANISM_COSTS = {"long_polling": "held_response_cost", "websocket": "websocket_message_cost"}


#: The saturation knee: short polling every second against a server made slower by an
#: emulated request_cost (a Python load generator cannot saturate aiohttp's natural cost).
KNEE_COST = "4ms"
KNEE_CLIENTS = (100, 150, 200, 230, 260, 300)
#: The load generator's client sends a poll only once the previous one is answered (one
#: HTTP/1.1 connection), so the case runs `after_response` in both: with `fixed` the model
#: keeps sending on time (setInterval) and its queue has no bound, the testbed's has.
KNEE = {"mechanism.kind": "short_polling", "mechanism.interval": "1s", "mechanism.schedule": "after_response",
        "workload.rate": 0.5,
        "experiment.warmup": "3s", "experiment.duration": "6s", "server.request_cost": KNEE_COST,
        "server.message_cost": "0s"}
#: With clients that wait for each answer (a closed population) p99 grows with the load
#: instead of exploding; the knee is where the served rate stops following the offered
#: one, and its height, the rate served at the heaviest load, is the server's capacity.


#: Each fit run is made this many times (calibrate's least squares averages them) and each
#: held-out case this many times (compared by the median measurement).  The server CPU of one
#: 10 s run moves by up to ±15 % between identical runs on this 2-core VM (2026-12-01:
#: 0.22-0.29 of a core for the same 500-client short-polling case), as much as the target;
#: a median of three is what a ±15 % comparison needs.
FIT_REPEATS = 2
HELD_OUT_REPEATS = 3


@dataclass
class Row:
    """One row of the testbed validation: a metric measured and predicted, with its tolerance."""
    case: str
    metric: str
    measured: float
    predicted: float
    tolerance: float | None
    two_values: bool = False  # the columns hold two measurements (no error computed)

    @property
    def error(self) -> float:
        """Relative error of the prediction (NaN when the columns hold two measurements)."""
        if self.two_values:
            return float("nan")
        return (self.predicted - self.measured) / self.measured if self.measured else 0.0

    @property
    def status(self) -> str:
        """pass / miss against the tolerance, or info without one."""
        if self.tolerance is None:
            return "info"
        return "pass" if abs(self.error) <= self.tolerance else "miss"


def case_config(settings: dict) -> ExperimentConfig:
    """The config of a validation case: the base settings, the case's, and its failures."""
    settings = dict(settings)
    failures = settings.pop("failures", None)
    config = load_config(None, {**BASE, "experiment.name": "testbed-validation", **settings})
    if failures:
        data = config.to_dict()
        data["failures"] = failures
        config = validate_config(data, "validate --testbed")
    return testbed_config(config, "validate --testbed")[0]


def calibrated(config: ExperimentConfig, tables: dict[str, dict]) -> ExperimentConfig:
    """`config` with the fitted `[server]`/`[http]` values in place."""
    data = config.to_dict()
    for section, values in tables.items():
        data[section].update(values)
    return validate_config(data, "calibration")


def validate_testbed(out: Path | None = None, progress=print) -> tuple[list[Row], dict]:
    """Fit on :data:`FIT`, predict :data:`HELD_OUT`; the rows and the fit."""
    work = Path(tempfile.mkdtemp(prefix="sim-validate-testbed-")) if out is None else out
    work.mkdir(parents=True, exist_ok=True)
    folders, kinds = [], []
    for name, settings in FIT.items():
        for repeat in range(FIT_REPEATS):
            progress(f"testbed: {name} ({repeat + 1} of {FIT_REPEATS})")
            measured = run_testbed(case_config(settings), work)
            folder = work / f"fit-{len(folders)}"
            write_testbed(measured, folder)
            folders.append(folder)
            kinds.append(settings["mechanism.kind"])
    fit = calibrate(folders)
    tables = server_config(fit)
    rows: list[Row] = []
    for case, (name, settings) in enumerate(HELD_OUT.items()):
        config = case_config(settings)
        kind = config.mechanism.kind
        runs = []
        for repeat in range(HELD_OUT_REPEATS):
            progress(f"testbed: {name} ({repeat + 1} of {HELD_OUT_REPEATS})")
            runs.append(run_testbed(config, work))
            write_testbed(runs[-1], work / f"held-out-{case}-{repeat}")

        def measured(metric: str, runs=runs) -> float:
            """The median over the repeated runs (counts and bytes barely move; CPU does)."""
            return float(np.median([r.metrics.get(metric, 0.0) for r in runs]))

        predicted = run(calibrated(config, tables)).metrics
        for metric, tolerance in TARGETS.items():
            if metric == "requests.empty_fraction" and kind in ("sse", "websocket"):
                continue
            if metric == "network.bytes_up" and kind in ("sse", "websocket"):
                tolerance = None  # TCP ACK-free but tiny: the client only sends its opening request
            rows.append(Row(name, metric, measured(metric), predicted[metric], tolerance))
            if metric == "server.cpu_utilization":
                cpu = [r.metrics[metric] for r in runs]
                rows.append(Row(name, f"{metric}: lowest / highest of the {len(runs)} testbed runs",
                                min(cpu), max(cpu), None, two_values=True))
            if metric == "server.cpu_utilization" and kind in MECHANISM_COSTS and kind in kinds:
                # "another mechanism": the costs fitted without this mechanism's runs, where its
                # messages cost what the other mechanisms' do
                others = [f for f, k in zip(folders, kinds, strict=True) if k != kind]
                shared = run(calibrated(config, server_config(calibrate(others)))).metrics
                rows.append(Row(name, f"{metric} (mechanism held out)", measured(metric),
                                shared[metric], None))
        lag = np.median([r.run.get("loadgen_loop_lag_p99_seconds") or float("nan") for r in runs])
        rows.append(Row(name, "load generator: CPU fraction of a core / loop lag p99 (s)",
                        float(np.median([r.run["loadgen_cpu_fraction"] for r in runs])), float(lag), None,
                        two_values=True))
        if config.failures:
            for metric in ("reconnects.total", "deliveries.lost", "connections.dropped"):
                rows.append(Row(name, metric, measured(metric), predicted[metric], None))
    rows += knee_rows(tables, work, progress)
    return rows, fit


def knee_rows(tables: dict[str, dict], work: Path, progress) -> list[Row]:
    """Polls per second at the knee, testbed (emulated cost) against the model (emulated + fitted cost)."""
    natural = tables["server"].get("request_cost")
    measured_p99, predicted_p99, rates = [], [], []
    for clients in KNEE_CLIENTS:
        progress(f"testbed: knee, {clients} polls/s at {KNEE_COST} emulated")
        config = case_config({**KNEE, "clients.count": clients})
        measured = run_testbed(config, work, emulate_costs=True)
        measured_p99.append(measured.metrics["latency.p99"])
        model_tables = {"server": {**tables["server"], "message_cost": "0s"}, "http": tables["http"]}
        model = calibrated(config, model_tables)
        # the model's cost: the emulated busy loop plus the stack's own (fitted) mean cost
        data = model.to_dict()
        data["server"]["request_cost"] = {"dist": "constant", "value": config.server.request_cost.mean
                                          + (calibrated(config, {"server": {"request_cost": natural}}).server.request_cost.mean
                                             if natural else 0.0)}
        predicted = run(validate_config(data, "knee")).metrics
        predicted_p99.append(predicted["latency.p99"])
        # polls that reached the server per second: the offered load, unless the load
        # generator fell behind its schedule
        rates.append((measured.metrics["requests.per_second"], predicted["requests.per_second"]))
    rows = []
    for c, m, p, (rate_m, rate_p) in zip(KNEE_CLIENTS, measured_p99, predicted_p99, rates, strict=True):
        rows += [Row(f"knee: {c} polls/s", "latency.p99", m, p, None),
                 Row(f"knee: {c} polls/s", "requests.per_second", rate_m, rate_p, None)]
    rows.append(Row(f"saturation: polls/s served at {KNEE_CLIENTS[-1]} offered (capacity)", "requests.per_second",
                    rates[-1][0], rates[-1][1], 0.20))
    return rows


def markdown(rows: list[Row], fit: dict, host: dict) -> str:
    """The validation table as Markdown, with the host and the fit above it."""
    lines = [f"Hardware: {host.get('cpu')}, {host.get('cores')} cores, {host.get('os')}, Python {host.get('python')},"
             f" aiohttp {host.get('aiohttp')}, websockets {host.get('websockets')};"
             f" load average {host.get('load_average', float('nan')):.1f} at the end.", "", _fitted(fit),
             f"Each fit run made {FIT_REPEATS} times; each held-out case {HELD_OUT_REPEATS} times, its testbed column"
             " the median.", "",
             "| case | metric | testbed | model | error | target | |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        target = f"±{r.tolerance:.0%}" if r.tolerance is not None else "—"
        error = "—" if r.two_values else f"{r.error:+.1%}"
        lines.append(f"| {r.case} | `{r.metric}` | {r.measured:.4g} | {r.predicted:.4g} | {error} | {target} | {r.status} |")
    return "\n".join(lines) + "\n"


def _fitted(fit: dict) -> str:
    """The fitted costs the model predicts with, in one line."""
    def us(seconds):
        return f"{seconds * 1e6:.0f} µs" if seconds is not None else "not fitted"
    idle = fit.get("idle_cpu")
    return (f"Fitted on the {len(fit['runs'])} fit runs: request cost {us(fit['request_cost_mean'])} (mean),"
            f" message cost (SSE) {us(fit['message_cost'])},"
            f" WebSocket message cost {us(fit.get('websocket_message_cost'))},"
            f" held long-poll response cost {us(fit.get('held_response_cost'))}, idle CPU "
            + (f"{idle['cpu_fraction']:.1%} of a core." if idle else "not fitted."))
