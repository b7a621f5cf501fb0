"""Benchmark scenarios shared by the benchmark scripts."""

from __future__ import annotations

from simulator.config import ExperimentConfig, load_config


def polling_scenario(clients: int = 10_000, duration: float = 600.0) -> ExperimentConfig:
    """The per-request scenario of issue 2, matching ``reference_simpy.py``'s defaults.

    10,000 clients, 5 s fixed interval, 10 simulated minutes, 4 workers, 1 ms exponential
    service, 25 ms one-way latency.  No warm-up and no start spread (the reference has none).
    """
    return load_config(
        None,
        {
            "experiment.name": "bench_requests",
            "experiment.duration": duration,
            "experiment.warmup": 0,
            "clients.count": clients,
            "clients.connect_over": 0,
            "mechanism.kind": "short_polling",
            "mechanism.interval": "5s",
            "server.workers": 4,
            "server.request_cost": {"dist": "exponential", "mean": "1ms"},
            "network.latency": "25ms",
            "server.max_connections": 10_000_000,  # no refusals: every client polls
        },
    )


#: Per-client behaviour of the scale benchmark (issue 14): a notification per client every
#: 200 s on average (workload.rate = 0.005/s per client), 1 ms exponential service, no drain.
SCALE_RATE_PER_CLIENT = 0.005
SCALE_POLL_INTERVAL = 60.0
SCALE_COST = 0.001
SCALE_UTILISATION = 0.5


def scale_scenario(kind: str, clients: int, work: int = 500_000) -> ExperimentConfig:
    """The issue-14 scale scenario for ``kind`` at ``clients`` clients, about ``work`` requests.

    Pollers poll every 60 s (fixed schedule, phases uniform over the interval); every
    mechanism's clients are owed 0.005 notifications/s each (per-client feeds).  The
    simulated duration is scaled so that the run does about ``work`` units of work
    (polls for the pollers, long polls ending at a notification or the hold timeout,
    notifications for the push mechanisms), whatever the client count.  One node whose
    worker count keeps the utilisation near 0.5 (at least one worker); no warm-up, no
    start spread, no drain.
    """
    pollers = kind == "short_polling"
    per_client_rate = 1.0 / SCALE_POLL_INTERVAL if pollers else SCALE_RATE_PER_CLIENT
    if kind == "long_polling":  # a poll ends at a notification or at the hold timeout
        hold = load_config(None, {"mechanism.kind": kind}).mechanism.params.hold
        per_client_rate = SCALE_RATE_PER_CLIENT + 1.0 / hold
    duration = work / (clients * per_client_rate)
    workers = max(1, round(clients * per_client_rate * SCALE_COST / SCALE_UTILISATION))
    values = {
        "experiment.name": f"bench_scale_{kind}",
        "experiment.duration": duration,
        "experiment.warmup": 0,
        "experiment.drain": 0,
        "experiment.sample_every": max(1.0, duration / 100),
        "clients.count": clients,
        "clients.connect_over": 0,
        "mechanism.kind": kind,
        "workload.pattern": "per_client",
        "workload.rate": SCALE_RATE_PER_CLIENT,
        "server.workers": workers,
        "server.request_cost": {"dist": "exponential", "mean": "1ms"},
        "server.max_connections": 10_000_000,
    }
    if pollers:
        values["mechanism.interval"] = f"{SCALE_POLL_INTERVAL:g}s"
    return load_config(None, values)
