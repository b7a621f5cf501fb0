"""Short polling against theory, over several seeds, with Student-t tolerances.

Set-up: N clients with per-client Poisson feeds of rate λ, one node with many
workers and a constant service time s (so nobody queues), constant one-way
latency L, access links of bandwidth b.  A notification is read by the first
poll that *reaches the node* after it is published, so its latency is

    residual time to that arrival + s + L + (response bytes) * 8 / b.

- Poll arrivals at the node are a renewal process with gaps I: the mean
  residual is E[I²] / (2 E[I]) — T/2 for a constant interval T, T for an
  exponential one (Poisson polls), and (a² + ab + b²) / 3(a + b) for U(a, b).
- The response holding a given notification carries it plus the others
  published in the same gap; for Poisson feeds their mean number is
  λ E[I²] / E[I] (the gap is length-biased), so its bytes are
  response_headers + payload * (1 + λ E[I²] / E[I]).
- The run drains after the window (``experiment.drain``), so deliveries still
  in flight at its end are counted too: no censoring correction is needed.
- ``after_response``: a cycle is T + (set-up) + L + req/b + s + L + resp/b, so
  the request rate is N / cycle, and keep_alive = false adds the TCP and TLS
  handshakes, (1 + TLS rounds) round trips, to every cycle.  Under ``fixed``
  the handshake only shifts every poll of a client by the same amount: the
  arrivals stay T apart and the notification latency does not change.

Each quantity is measured over R seeds; the test asserts the theory lies in
the 99 % Student-t confidence interval of the mean over seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator.config import load_config
from simulator.engine.http import TLS_ROUND_TRIPS
from simulator.engine.runner import run

N, D, LAM, T, L, S, BW = 100, 600.0, 0.2, 2.0, 0.025, 0.001, 100e6
REQ, RESP, PAYLOAD = 500.0, 371.0, 200.0
SEEDS = (1, 2, 3, 4, 5)
BASE: dict[str, Any] = {
    "experiment.duration": D,
    "experiment.warmup": "20s",  # > connect_over + T: every first poll is in the warm-up
    "clients.count": N,
    "clients.connect_over": "5s",
    "mechanism.interval": T,
    "workload.rate": LAM,
    "network.latency": L,
    "network.bandwidth": BW,
    "http.request_headers": REQ,
    "http.response_headers": RESP,
    "workload.payload": PAYLOAD,
    "server.workers": 64,
    "server.request_cost": S,
}


def measure(overrides: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each metric as an array over SEEDS."""
    runs = [run(load_config(None, {**BASE, **overrides, "experiment.seed": seed})).metrics for seed in SEEDS]
    return {key: np.array([m[key] for m in runs]) for key in runs[0]}


def assert_in_ci(samples: np.ndarray, theory: float, what: str, level: float = 0.99) -> None:
    """Theory inside the Student-t CI of the mean of ``samples`` (one per seed)."""
    n = len(samples)
    mean = float(samples.mean())
    half = stats.t.ppf(0.5 + level / 2, n - 1) * samples.std(ddof=1) / math.sqrt(n)
    half = max(half, 1e-9 * abs(theory))  # deterministic quantities: float noise only
    assert abs(mean - theory) <= half, f"{what}: measured {mean:.6g} ± {half:.3g}, theory {theory:.6g}"


def serialisation(num_bytes: float) -> float:
    return num_bytes * 8 / BW


def latency_theory(m1: float, m2: float, m3: float) -> float:
    """Mean latency when node arrivals are a renewal process with gap moments E[I^k] = m_k.

    Residual R: E[R] = m2 / 2m1 (the third moment ``m3`` would only matter if the
    window censored late deliveries, which the drain prevents).
    """
    residual = m2 / (2 * m1)
    batch = 1 + LAM * m2 / m1
    return residual + S + L + serialisation(RESP + PAYLOAD * batch)


def constant_moments(t: float) -> tuple[float, float, float]:
    return t, t**2, t**3


def after_response_cycle(handshake_rtts: int, interval: float = T) -> float:
    """Seconds from one poll's send to the next: T + set-up + both crossings + service.

    The response carries λ·cycle payloads on average, so the cycle solves a linear equation.
    """
    fixed_part = interval + handshake_rtts * 2 * L + 2 * L + S + serialisation(REQ + RESP)
    return fixed_part / (1 - LAM * serialisation(PAYLOAD))


@pytest.fixture(scope="module")
def fixed() -> dict[str, np.ndarray]:
    return measure({})


def test_fixed_interval_mean_latency_is_half_the_interval_plus_path(fixed) -> None:
    assert_in_ci(fixed["latency.mean"], latency_theory(*constant_moments(T)), "mean latency, fixed T")


def test_fixed_interval_request_rate(fixed) -> None:
    assert_in_ci(fixed["requests.per_second"], N / T, "requests/s, fixed T")


def test_fixed_interval_empty_fraction(fixed) -> None:
    assert_in_ci(fixed["requests.empty_fraction"], math.exp(-LAM * T), "empty fraction, fixed T")


def test_fixed_interval_latency_bounds(fixed) -> None:
    # Latency = U(0, T) + path: the max is below T + path (a few payloads of serialisation
    # aside) and the p99 is 0.99 T + path, within the histogram's 1 % plus the p99's own
    # sampling error (sqrt(q(1-q)/n) * T ~ 0.1 % at n ~ 12,000 deliveries).
    path = S + L + serialisation(RESP + PAYLOAD)
    assert np.all(fixed["latency.max"] <= T + path + serialisation(10 * PAYLOAD))
    p99 = 0.99 * T + path
    assert np.all(np.abs(fixed["latency.p99"] - p99) <= (0.01 + 0.003) * p99)


def test_exponential_interval_mean_latency_is_the_interval() -> None:
    m = measure({"mechanism.interval": {"dist": "exponential", "mean": T}})
    # Poisson polls: E[I^k] = k! T^k, so the residual is Exp(T) itself: mean T.
    assert_in_ci(m["latency.mean"], latency_theory(T, 2 * T**2, 6 * T**3), "mean latency, exponential T")
    assert_in_ci(m["requests.per_second"], N / T, "requests/s, exponential T")
    # an empty poll: nothing in an Exp(T) gap, E[e^(-λI)] = 1 / (1 + λT)
    assert_in_ci(m["requests.empty_fraction"], 1 / (1 + LAM * T), "empty fraction, exponential T")


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "no keep-alive"])
def test_after_response_request_rate_and_latency(keep_alive: bool) -> None:
    m = measure({"mechanism.schedule": "after_response", "http.keep_alive": keep_alive})
    rtts = 0 if keep_alive else 1 + TLS_ROUND_TRIPS["1.3"]
    cycle = after_response_cycle(rtts)
    assert_in_ci(m["requests.per_second"], N / cycle, f"requests/s, after_response, keep_alive={keep_alive}")
    # node arrivals are one cycle apart (to within payload serialisation): residual cycle/2
    assert_in_ci(m["latency.mean"], latency_theory(*constant_moments(cycle)), "mean latency, after_response")
    assert_in_ci(m["requests.empty_fraction"], math.exp(-LAM * cycle), "empty fraction, after_response")


def test_no_keep_alive_pays_the_handshake_per_poll_but_not_in_latency_under_fixed(fixed) -> None:
    off = measure({"http.keep_alive": False, "http.tls": "1.2"})
    # setInterval: every poll is shifted by the same (1 + 2) round trips, so arrivals stay T
    # apart and the notification latency is that of keep-alive; each poll opens a connection
    assert_in_ci(off["latency.mean"], latency_theory(*constant_moments(T)), "mean latency, no keep-alive, fixed")
    assert_in_ci(off["connections.opened"] / off["requests.total"], 1.0, "connections per poll")
    assert np.all(fixed["connections.opened"] == 0)  # kept-alive connections opened in the warm-up


def test_balancer_idle_timeout_closes_kept_alive_connections() -> None:
    # An idle timeout shorter than the gap between polls cuts every kept-alive connection,
    # so each poll pays the handshake as without keep-alive.
    m = measure({"mechanism.schedule": "after_response", "cluster.idle_timeout": "1s", "mechanism.interval": 3.0})
    rtts = 1 + TLS_ROUND_TRIPS["1.3"]
    cycle = after_response_cycle(rtts, interval=3.0)
    assert_in_ci(m["requests.per_second"], N / cycle, "requests/s, idle timeout < interval")


def test_uniform_interval_follows_the_renewal_formula() -> None:
    # Between the two cases above: gaps U(a, b), E[I^k] = (b^(k+1) - a^(k+1)) / ((k+1)(b-a)).
    a, b = 1.0, 3.0
    m = measure({"mechanism.interval": {"dist": "uniform", "low": a, "high": b}})
    moments = [(b ** (k + 1) - a ** (k + 1)) / ((k + 1) * (b - a)) for k in (1, 2, 3)]
    assert_in_ci(m["latency.mean"], latency_theory(*moments), "mean latency, uniform interval")
    assert_in_ci(m["requests.per_second"], N / moments[0], "requests/s, uniform interval")
    empty = (math.exp(-LAM * a) - math.exp(-LAM * b)) / (LAM * (b - a))  # E[e^(-λI)]
    assert_in_ci(m["requests.empty_fraction"], empty, "empty fraction, uniform interval")
