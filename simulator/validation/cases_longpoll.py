"""Long polling: the request rate of a client against the renewal-cycle formula.

Each client has its own Poisson feed (λ = 0.2/s).  After a response the
client waits ``rerequest_delay`` R before its next request reaches the
server; an event that arrived meanwhile is answered at once, otherwise the
request is held until the next event or ``hold`` H.  The cycle lasts
R + e^(−λR)(1 − e^(−λH))/λ on average, so each client sends
1 / (R + e^(−λR)(1 − e^(−λH))/λ) requests per second (λ/(1 − e^(−λH)) at R = 0).
A request is empty when nothing is published between the previous response
reading the log and the end of its own hold: e^(−λ(R + H)).

The formula has no network: the scenario uses a zero-latency 100 Gbit/s link
and 1 µs of CPU per request and per held response written, and the allowance
is the change of the formula when the gap grows by those (service +
serialisation of both headers).
"""

from __future__ import annotations

import math

from simulator.validation.core import Agree, Case, Scenario, metric
from simulator.validation.theory import long_poll_rate

RATE, HOLD = 0.2, 10.0
CLIENTS = 500
COST = 1e-6
BANDWIDTH = 100e9


def scenario(gap: float, quick: bool) -> Scenario:
    """A long-polling scenario with re-request gap `gap`."""
    return Scenario.config(
        f"longpoll-R{gap:g}-{'q' if quick else 'f'}",
        {
            "mechanism.kind": "long_polling",
            "mechanism.hold": HOLD,
            "mechanism.rerequest_delay": gap,
            "clients.count": CLIENTS,
            "workload.rate": RATE,
            "network.latency": 0,
            "network.bandwidth": BANDWIDTH,
            "server.request_cost": COST,
            "server.message_cost": COST,  # writing a held response
            "experiment.warmup": 30,
            "experiment.duration": 200 if quick else 600,
        },
    )


def per_client_rate(m: dict[str, float]) -> float:
    """Requests per second per client."""
    return m["requests.per_second"] / CLIENTS


def cases(quick: bool) -> list[Case]:
    """Long polling's request rate per client against λ/(1 − e^(−λH)) and its gap form."""
    reps = 5 if quick else 8
    extra = COST + (500 + 371) * 8 / BANDWIDTH  # seconds the model adds to each gap
    out = []
    for gap in (0.0, 2.0):
        expected = long_poll_rate(RATE, HOLD, gap)
        slack = abs(long_poll_rate(RATE, HOLD, gap + extra) - expected)
        formula = "λ/(1 − e^(−λH))" if gap == 0 else "1/(R + e^(−λR)(1 − e^(−λH))/λ)"
        out.append(
            Case(
                f"long polling, hold {HOLD:g} s, gap {gap:g} s: requests/s per client",
                "long polling",
                "requests.per_second / clients",
                "1/s",
                expected,
                f"renewal cycle: {formula}",
                (scenario(gap, quick),),
                per_client_rate,
                Agree(abs=slack, reason="1 µs service + header serialisation lengthen each gap"),
                reps,
            )
        )
        empty = math.exp(-RATE * (gap + HOLD))
        out.append(
            Case(
                f"long polling, hold {HOLD:g} s, gap {gap:g} s: empty fraction",
                "long polling",
                "requests.empty_fraction",
                "fraction",
                empty,
                "no publish in R + H: e^(−λ(R + H))",
                (scenario(gap, quick),),
                metric("requests.empty_fraction"),
                Agree(abs=empty - math.exp(-RATE * (gap + extra + HOLD)), reason="1 µs service + header serialisation lengthen each gap"),
                reps,
            )
        )
    return out
