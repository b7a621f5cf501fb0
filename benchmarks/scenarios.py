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
