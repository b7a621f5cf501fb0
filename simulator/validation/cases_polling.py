"""Short polling against renewal theory: delay, request rate and empty responses.

Scenario: 1,000 clients, each with its own Poisson feed of λ = 0.2 events/s,
poll one node every T = 5 s (fixed, or exponential gaps), over a 25 ms
one-way link at 100 Mbit/s, 1 ms of CPU per request on 16 workers (ρ ≈ 1 %,
so no queueing).  An event waits for the next poll to reach the server —
the mean residual time of the poll process, E[S²]/(2E[S]) (T/2 for fixed,
T for exponential gaps, by PASTA since events are Poisson) — then the
request's service and the response's one-way trip:

    delay = E[S²]/(2E[S]) + c + L + (response headers + payload · (1 + λE[S²]/E[S])) · 8 / bandwidth

(the last factor counts the other events that share the response: the
interval holding a random event is length-biased).

The run drains (``experiment.drain``): after the measured window it goes on
until every notification published in the window has arrived, so the
``latency`` metrics are not censored at the window's end and the plain
formulas apply (``theory.censored_mean`` with an infinite window is the plain
mean; with ``drain = 0`` the observed mean would be (E[D] − E[D²]/W)/(1 − E[D]/W),
low by about Var(D)/W).  Percentiles come from the log-bucket histogram
(≤ 0.995 % relative error, the allowance of those rows).  Requests/s = N/E[S];
a poll is empty with probability E[e^(-λS)]: e^(-λT) fixed, 1/(1+λT)
exponential.  With ``after_response`` the cycle is T plus a round trip,
service and serialisation: requests/s = N / E[cycle].
"""

from __future__ import annotations

import math

from simulator.engine.histogram import MAX_RELATIVE_ERROR
from simulator.validation.core import Agree, Case, Scenario, metric
from simulator.validation.theory import (
    censored_mean,
    censored_quantile,
    clamped_exponential,
    clamped_exponential_empty,
    residual_moments,
)

N = 1000
T = 5.0
RATE = 0.2
LATENCY = 0.025
BANDWIDTH = 100e6
COST = 0.001
REQ, RESP, PAYLOAD = 500.0, 371.0, 200.0
SPB = 8.0 / BANDWIDTH  # seconds per byte on the access link
DURATION = 300.0

EXP_INTERVAL = {"dist": "exponential", "mean": f"{T}s"}


def _scenario(key: str, interval, schedule: str) -> Scenario:
    return Scenario.config(
        key,
        {
            "mechanism.kind": "short_polling",
            "mechanism.interval": interval,
            "mechanism.schedule": schedule,
            "clients.count": N,
            "workload.rate": RATE,
            "workload.payload": PAYLOAD,
            "network.latency": LATENCY,
            "network.bandwidth": BANDWIDTH,
            "server.workers": 16,
            "server.request_cost": COST,
            "experiment.warmup": 30,
            "experiment.duration": DURATION,
        },
    )



def cases(quick: bool) -> list[Case]:
    """Short polling's latency and empty fraction against theory, per schedule."""
    reps = 5 if quick else 10
    fixed = _scenario("sp-fixed", f"{T}s", "fixed")
    expo = _scenario("sp-exp", EXP_INTERVAL, "fixed")
    after = _scenario("sp-after", f"{T}s", "after_response")
    d_up = LATENCY + REQ * SPB  # a request's one-way time: the floor of a gap (see theory)
    window = math.inf  # the run drains: late deliveries are counted, nothing is censored
    src = "E[S²]/(2E[S]) + c + L + serialisation"

    def delay(r1: float, r2: float, share: float) -> float:
        # D = R + k: R the residual to the next poll (moments r1, r2), k the fixed part
        k = COST + LATENCY + (RESP + PAYLOAD * (1 + share)) * SPB
        return censored_mean(r1 + k, r2 + 2 * r1 * k + k * k, window)

    # fixed interval: residual uniform on (0, T); exact (no clamping: T >> one-way time)
    delay_fixed = delay(T / 2, T * T / 3, RATE * T)
    # exponential interval: ideal residual Exp(T); the clamp max(S, d) as a computed allowance
    m1, m2, m3 = clamped_exponential(T, d_up)
    ideal = delay(T, 2 * T * T, 2 * RATE * T)
    clamped = delay(*residual_moments(m1, m2, m3), RATE * m2 / m1)
    clamp_note = "gap ≥ request one-way time (max(S, d)): exact correction"
    # percentiles: the same distribution, read from the log-bucket histogram
    k_fixed = COST + LATENCY + (RESP + PAYLOAD * (1 + RATE * T)) * SPB
    p90_fixed = censored_quantile(0.90, lambda r: 1 / T, T, k_fixed, window)
    k_exp = COST + LATENCY + (RESP + PAYLOAD * (1 + 2 * RATE * T)) * SPB
    p99_exp = censored_quantile(0.99, lambda r: math.exp(-r / T) / T, 40 * T, k_exp, window)
    histogram = Agree(
        rel=MAX_RELATIVE_ERROR + 1e-4,
        reason="log-bucket histogram: a percentile is within 0.995 % (+ µs of serialisation)",
    )
    # after_response: cycle = T + up + c + down, down carries the cycle's events (E[n] = λ·cycle)
    cycle = (T + 2 * LATENCY + COST + (REQ + RESP) * SPB) / (1 - RATE * PAYLOAD * SPB)

    return [
        Case(
            "short polling, fixed 5 s: mean delay",
            "short polling",
            "latency.mean",
            "s",
            delay_fixed,
            f"{src}; residual uniform on (0, T)",
            (fixed,),
            metric("latency.mean"),
            Agree(reason="none (the mean is kept exactly, not from the histogram)"),
            reps,
        ),
        Case(
            "short polling, exponential 5 s: mean delay",
            "short polling",
            "latency.mean",
            "s",
            ideal,
            f"{src}; residual Exp(T) for exponential gaps",
            (expo,),
            metric("latency.mean"),
            Agree(abs=abs(clamped - ideal), reason=clamp_note),
            reps,
        ),
        Case(
            "short polling, fixed 5 s: latency p90",
            "short polling",
            "latency.p90",
            "s",
            p90_fixed,
            "0.9 T + c + L + serialisation",
            (fixed,),
            metric("latency.p90"),
            histogram,
            reps,
        ),
        Case(
            "short polling, exponential 5 s: latency p99",
            "short polling",
            "latency.p99",
            "s",
            p99_exp,
            "T ln 100 + c + L + serialisation",
            (expo,),
            metric("latency.p99"),
            histogram,
            reps,
        ),
        Case(
            "short polling, fixed 5 s: requests/s",
            "short polling",
            "requests.per_second",
            "1/s",
            N / T,
            "clients / interval",
            (fixed,),
            metric("requests.per_second"),
            Agree(reason="none: each client polls exactly duration/T times"),
            reps,
        ),
        Case(
            "short polling, exponential 5 s: requests/s",
            "short polling",
            "requests.per_second",
            "1/s",
            N / T,
            "clients / mean interval",
            (expo,),
            metric("requests.per_second"),
            Agree(abs=N / T - N / m1, reason=clamp_note),
            reps,
        ),
        Case(
            "short polling, fixed 5 s: empty fraction",
            "short polling",
            "requests.empty_fraction",
            "fraction",
            math.exp(-RATE * T),
            "P(no Poisson event in T) = e^(−λT)",
            (fixed,),
            metric("requests.empty_fraction"),
            Agree(),
            reps,
        ),
        Case(
            "short polling, exponential 5 s: empty fraction",
            "short polling",
            "requests.empty_fraction",
            "fraction",
            1 / (1 + RATE * T),
            "E[e^(−λS)] = 1/(1 + λT) for exponential gaps",
            (expo,),
            metric("requests.empty_fraction"),
            Agree(abs=abs(clamped_exponential_empty(T, d_up, RATE) - 1 / (1 + RATE * T)), reason=clamp_note),
            reps,
        ),
        Case(
            "short polling, after_response 5 s: requests/s",
            "short polling",
            "requests.per_second",
            "1/s",
            N / cycle,
            "clients / (T + 2L + c + serialisation)",
            (after,),
            metric("requests.per_second"),
            Agree(),
            reps,
        ),
    ]
