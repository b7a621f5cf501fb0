"""The metric catalogue describes exactly the metrics a run emits, each with a known unit."""

from __future__ import annotations

import pytest

from simulator.output.catalogue import CATALOGUE, KEY_METRICS, format_metric, format_value, unit_of
from tests.conftest import SMALL, run_metrics

UNITS = {"s", "B", "B/s", "fraction", "$", "/s", "J", ""}


@pytest.mark.parametrize("kind", ["short_polling", "webhook"])
def test_every_emitted_metric_is_in_the_catalogue(kind):
    base = {k: v for k, v in SMALL.items() if k != "mechanism.interval"}
    metrics = run_metrics({"mechanism.kind": kind}, base)
    assert set(metrics) == set(CATALOGUE)


def test_units_and_key_metrics_are_known():
    assert all(m.unit in UNITS for m in CATALOGUE.values())
    assert set(KEY_METRICS) <= set(CATALOGUE)
    assert unit_of("latency.p99") == "s" and unit_of("server.cpu_utilization") == "fraction"


@pytest.mark.parametrize(("name", "value", "text"), [
    ("latency.p99", 0.0042, "4.20 ms"),
    ("server.cpu_utilization", 0.3757, "37.57%"),
    ("server.memory_peak", 3 * 2**30, "3.00 GiB"),
    ("requests.total", 60000, "60,000"),
    ("cost.total", 0.0114, "$0.0114"),
])
def test_values_are_shown_in_their_unit(name, value, text):
    assert format_metric(name, value) == text


def test_missing_values_show_a_dash():
    assert format_value(float("nan"), "s") == "—"
