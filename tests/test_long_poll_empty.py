"""Issue 8 item 14: long polling's ``requests.empty_fraction`` against theory.

Theory.  Client k's requests reach the node at a_1 < a_2 < ...  Request j is
answered from what the log holds for the client: everything published after
τ_{j−1}, the moment the previous response read the log (the arrival of the
previous request if it was answered at once, the publish that answered it if
it was held, its expiry if it ran out).  If nothing was published in
(τ_{j−1}, a_j] the request is held until a_j + H and answered by the first
publish before then.  So request j is empty exactly when the client's feed
publishes nothing in (τ_{j−1}, a_j + H], an interval of length R' + H with

    R' = a_j − τ_{j−1} = write + one-way down + R + one-way up,

R the ``rerequest_delay`` and H the ``hold``.  With a Poisson feed of rate λ,

    P(empty) = e^(−λ (R' + H)),

and since the intervals of successive requests do not overlap, the requests
are independent Bernoulli trials (a request's arrival time does not depend on
the feed after it, so choosing requests by arrival in the window is unbiased).
Here R' = R + 2 × 25 ms + (≤ 1 ms of service and serialisation); the
millisecond changes e^(−λ(R'+H)) by less than λ × 1 ms = 0.03 %.

The tolerance is a binomial confidence interval: z = 4 standard errors
sqrt(p(1 − p) / n) over the n requests of the window (a false failure once in
~30,000 seeds), plus the millisecond above.

Before the fix, a poll still held when the window closed counted in the
denominator and ended empty only if the drain outlasted its hold: the
fraction was 0.165 for hold 30 s, λ = 0.05, a 2-minute window (theory
0.2226), and it moved with ``sample_every`` (which sets the drain's step) and
the drain's length.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import run_metrics

LATENCY = 0.025  # the default one-way latency


def config(rate: float, hold: float, gap: float, clients: int, duration: float, **extra) -> dict:
    return {
        "experiment.name": "lp-empty",
        "experiment.duration": duration,
        "experiment.warmup": 10,  # every client's first request (a longer gap) falls before it
        "clients.count": clients,
        "clients.connect_over": "2s",
        "mechanism.kind": "long_polling",
        "mechanism.hold": hold,
        "mechanism.rerequest_delay": gap,
        "workload.rate": rate,
        **extra,
    }


def theory(rate: float, hold: float, gap: float) -> float:
    return math.exp(-rate * (gap + 2 * LATENCY + hold))


@pytest.mark.parametrize(
    ("rate", "hold", "gap", "clients", "duration", "sample_every"),
    [
        (0.05, 30.0, 0.0, 1000, 120, 10.0),  # the case: 0.165 before, theory 0.2226
        (0.05, 30.0, 0.0, 1000, 60, 1.0),  # a window of two holds
        (0.3, 5.0, 0.8, 300, 60, 0.5),
    ],
)
def test_empty_fraction_matches_theory(rate, hold, gap, clients, duration, sample_every):
    m = run_metrics(config(rate, hold, gap, clients, duration, **{"experiment.sample_every": sample_every}), {})
    p = theory(rate, hold, gap)
    n = m["requests.total"]
    tolerance = 4 * math.sqrt(p * (1 - p) / n) + rate * 1e-3
    assert abs(m["requests.empty_fraction"] - p) <= tolerance, (m["requests.empty_fraction"], p, n)


def test_empty_fraction_does_not_depend_on_sample_every_or_the_drain():
    base = config(0.3, 5.0, 0.8, 300, 60)
    fractions = {
        (every, drain): run_metrics({**base, "experiment.sample_every": every, "experiment.drain": drain}, {})[
            "requests.empty_fraction"
        ]
        for every, drain in [(0.5, "60s"), (10.0, "60s"), (10.0, "0s")]
    }
    assert len(set(fractions.values())) == 1, fractions
