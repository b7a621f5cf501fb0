"""The latency histogram: percentiles within 1 % of the exact ones, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.histogram import MAX_RELATIVE_ERROR, LatencyHistogram

QS = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)


def exact(values: np.ndarray, q: float) -> float:
    # The histogram reports the value of rank ceil(q * n), i.e. numpy's inverted CDF.
    return float(np.quantile(values, q, method="inverted_cdf"))


def check(hist: LatencyHistogram, values: np.ndarray) -> None:
    assert MAX_RELATIVE_ERROR <= 0.01
    for q in QS:
        want = exact(values, q)
        got = hist.quantile(q)
        assert abs(got - want) <= 0.01 * want, (q, got, want)
    assert hist.count == len(values)
    assert hist.max == values.max()
    assert hist.mean == pytest.approx(values.mean(), rel=1e-12)


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.lognormal(np.log(0.05), 1.0, n),  # a 50 ms median, heavy tail
        lambda rng, n: rng.lognormal(np.log(2e-4), 2.5, n),  # spans many decades
        lambda rng, n: rng.exponential(2.5, n),  # polling residuals, many near 0
        lambda rng, n: rng.exponential(1e-3, n),  # service times
    ],
    ids=["lognormal", "lognormal-wide", "exponential", "exponential-ms"],
)
def test_percentiles_within_one_percent(draw) -> None:
    rng = np.random.default_rng(7)
    values = draw(rng, 50_000)
    scalar, bulk = LatencyHistogram(), LatencyHistogram()
    for v in values[:5000].tolist():
        scalar.add(v)
    check(scalar, values[:5000])
    bulk.add_many(values)
    check(bulk, values)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-8, max_value=1e4, allow_nan=False), min_size=1, max_size=300),
    st.booleans(),
)
def test_percentiles_within_one_percent_any_sample(values: list[float], bulk: bool) -> None:
    hist = LatencyHistogram()
    arr = np.asarray(values)
    if bulk:
        hist.add_many(arr)
    else:
        for v in values:
            hist.add(v)
    check(hist, arr)


def test_zeros_and_merge() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.add_many(np.zeros(10))  # same-instant deliveries: exactly zero latency
    b.add_many(np.full(10, 0.5))
    a.merge(b)
    assert a.count == 20 and a.quantile(0.5) == 0.0
    assert abs(a.quantile(0.99) - 0.5) <= 0.005
    assert LatencyHistogram().quantile(0.5) == 0.0 and LatencyHistogram().mean == 0.0


def test_memory_does_not_grow_with_values() -> None:
    rng = np.random.default_rng(3)
    hist = LatencyHistogram()
    hist.add_many(rng.exponential(1.0, 1000))
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(20):
        hist.add_many(rng.exponential(1.0, 50_000))  # a million values in bulk
    for v in rng.lognormal(0.0, 1.0, 100_000).tolist():  # and 100,000 one by one
        hist.add(v)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert hist.count == 1_101_000
    # a list of a million floats would be 8 MB and more; the counters stay put
    assert after - before < 64 * 1024
