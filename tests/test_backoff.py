"""The shared backoff against the definitions of AWS's "Exponential Backoff and Jitter".

Brooker (2015), with base = ``initial``, cap = ``max`` and attempt counted from 0:

- none:          min(cap, base * factor**attempt)
- full:          uniform(0, min(cap, base * factor**attempt))
- equal:         v/2 + uniform(0, v/2), v as above
- decorrelated:  min(cap, uniform(base, previous * 3)), previous starting at base

Bounds are checked on every draw; means over many draws against the uniform
law's mean with a 4-sigma band (a false alarm about once in 16,000 runs), and
the shape with a Kolmogorov-Smirnov test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.config import BackoffSection
from simulator.engine.backoff import Backoff

DRAWS = 20_000


def _backoff(jitter: str, initial: float = 0.5, cap: float = 20.0, factor: float = 2.0, seed: int = 7):
    section = BackoffSection(initial=initial, max=cap, factor=factor, jitter=jitter)
    return Backoff(section, np.random.default_rng(seed))


def _ceiling(attempt: int, initial: float = 0.5, cap: float = 20.0, factor: float = 2.0) -> float:
    return min(cap, initial * factor**attempt)


def _mean_within(sample: np.ndarray, expected: float) -> None:
    half = 4 * sample.std(ddof=1) / math.sqrt(len(sample))
    assert abs(sample.mean() - expected) <= half, (sample.mean(), expected, half)


def test_none_is_the_capped_exponential_exactly():
    b = _backoff("none")
    assert [b.delay(k) for k in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert b.delay(10_000) == 20.0  # no overflow far past the cap
    assert b.delays(np.arange(8)).tolist() == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert _backoff("none", initial=1.0, cap=30.0, factor=3.0).delay(2) == 9.0


@pytest.mark.parametrize("attempt", [0, 3, 6])
def test_full_jitter_is_uniform_below_the_ceiling(attempt):
    b = _backoff("full")
    v = _ceiling(attempt)
    sample = np.array([b.delay(attempt) for _ in range(DRAWS)])
    assert sample.min() >= 0.0 and sample.max() <= v
    _mean_within(sample, v / 2)
    assert stats.kstest(sample, stats.uniform(0, v).cdf).pvalue > 1e-4
    vector = b.delays(np.full(DRAWS, attempt))
    assert vector.min() >= 0.0 and vector.max() <= v
    _mean_within(vector, v / 2)


@pytest.mark.parametrize("attempt", [0, 4, 9])
def test_equal_jitter_keeps_half_the_ceiling(attempt):
    b = _backoff("equal")
    v = _ceiling(attempt)
    sample = np.array([b.delay(attempt) for _ in range(DRAWS)])
    assert sample.min() >= v / 2 and sample.max() <= v
    _mean_within(sample, 3 * v / 4)
    assert stats.kstest(sample, stats.uniform(v / 2, v / 2).cdf).pvalue > 1e-4
    vector = b.delays(np.full(DRAWS, attempt))
    assert vector.min() >= v / 2 and vector.max() <= v
    _mean_within(vector, 3 * v / 4)


def test_decorrelated_draws_between_base_and_three_times_previous():
    b = _backoff("decorrelated", initial=0.5, cap=1000.0)
    first = np.array([b.delay(0) for _ in range(DRAWS)])  # previous starts at base
    assert first.min() >= 0.5 and first.max() <= 1.5
    _mean_within(first, (0.5 + 1.5) / 2)
    previous = 4.0
    sample = np.array([b.delay(3, previous) for _ in range(DRAWS)])
    assert sample.min() >= 0.5 and sample.max() <= 12.0
    _mean_within(sample, (0.5 + 12.0) / 2)
    assert stats.kstest(sample, stats.uniform(0.5, 11.5).cdf).pvalue > 1e-4
    vector = b.delays(np.zeros(DRAWS), np.full(DRAWS, previous))
    assert vector.min() >= 0.5 and vector.max() <= 12.0
    _mean_within(vector, (0.5 + 12.0) / 2)


def test_decorrelated_is_capped():
    # With previous = 10 and cap = 20, U(0.5, 30) is cut at 20: P(cap) = 10 / 29.5 and
    # E = E[min(20, U)] = (20^2 - 0.5^2) / (2 * 29.5) + 20 * 10 / 29.5.
    b = _backoff("decorrelated", initial=0.5, cap=20.0)
    sample = np.array([b.delay(5, 10.0) for _ in range(DRAWS)])
    assert sample.max() <= 20.0 and sample.min() >= 0.5
    p_cap = 10.0 / 29.5
    hits = int((sample == 20.0).sum())
    assert stats.binomtest(hits, DRAWS, p_cap).pvalue > 1e-4
    _mean_within(sample, (20.0**2 - 0.5**2) / (2 * 29.5) + 20.0 * p_cap)
    # A chain (each delay feeding the next, as a client retrying) never leaves [base, cap].
    d = 0.0
    chain = []
    for k in range(2000):
        d = b.delay(k, d)
        chain.append(d)
    assert min(chain) >= 0.5 and max(chain) <= 20.0
    vector = b.delays(np.zeros(DRAWS), np.full(DRAWS, 10.0))
    assert vector.max() <= 20.0
    assert stats.binomtest(int((vector == 20.0).sum()), DRAWS, p_cap).pvalue > 1e-4


def test_same_seed_same_delays():
    a, b = _backoff("full", seed=3), _backoff("full", seed=3)
    assert [a.delay(k) for k in range(50)] == [b.delay(k) for k in range(50)]
