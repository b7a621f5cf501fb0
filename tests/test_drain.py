"""The drain after the window: late deliveries are counted, nothing else is measured."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import load_config, run

LATENCY_ONLY = {
    "latency.mean",
    "latency.p50",
    "latency.p90",
    "latency.p99",
    "latency.max",
    "deliveries.delivered",
    "deliveries.pending",
    "deliveries.lost",
    "cost.per_million_deliveries",
}


def _config(kind: str, drain: str, **extra):
    overrides = {
        "experiment.duration": "2m",
        "experiment.warmup": "20s",
        "experiment.drain": drain,
        "clients.count": 200,
        "mechanism.kind": kind,
        **extra,
    }
    return load_config(None, overrides)


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("short_polling", {"mechanism.interval": {"dist": "exponential", "mean": "20s"}}),
        ("long_polling", {}),
        ("sse", {}),
        ("webhook", {"mechanism.receiver_cost": "200ms"}),
    ],
)
def test_drain_counts_late_deliveries_and_measures_nothing_else(kind, extra):
    cut = run(_config(kind, "0s", **extra))
    drained = run(_config(kind, "5m", **extra))
    # everything published in the window arrives (the run went on until it did)
    m = drained.metrics
    assert m["deliveries.pending"] == 0
    assert m["deliveries.delivered"] + m["deliveries.lost"] == m["deliveries.owed"]
    assert drained.run["drained_seconds"] < 300
    # what was pending at the window's end is now delivered or lost, never more
    assert m["deliveries.delivered"] >= cut.metrics["deliveries.delivered"]
    # nothing but the deliveries' accounting differs: same requests, bytes, CPU, series
    for key, value in cut.metrics.items():
        if key not in LATENCY_ONLY:
            assert drained.metrics[key] == value, key
    for column in ("requests_per_second", "bytes_per_second", "cpu_busy_fraction", "open_connections"):
        np.testing.assert_array_equal(drained.timeseries[column], cut.timeseries[column])


def test_without_drain_long_delays_near_the_end_are_censored():
    # 60 s exponential polling over 2 minutes: many notifications of the last minute
    # are still waiting for a poll when the window closes.
    interval = {"mechanism.interval": {"dist": "exponential", "mean": "60s"}}
    cut = run(_config("short_polling", "0s", **interval)).metrics
    drained = run(_config("short_polling", "10m", **interval)).metrics
    assert cut["deliveries.pending"] > 0.2 * cut["deliveries.owed"]
    assert drained["deliveries.pending"] == 0
    # the censored mean is biased low; the drained one is the residual of Poisson polls (~60 s)
    assert cut["latency.mean"] < 0.8 * drained["latency.mean"]
    assert drained["latency.mean"] == pytest.approx(60.0, rel=0.15)
