"""Client churn: the online fraction and the connection-open rate of a two-state client.

Each of N SSE clients alternates exponential online sessions (mean S) and
offline periods (mean O), started in the stationary state.  The fraction of
time online is S / (S + O); each return opens one stream, so connections open
at N / (S + O) per second (a renewal process of mean cycle S + O).  Nothing
else opens or drops connections in the scenario (no failures, no idle cut).
"""

from __future__ import annotations

from functools import partial

from simulator.validation.core import Agree, Case, Scenario

CLIENTS = 200
SESSION, OFFLINE = 60.0, 30.0


def scenario(quick: bool) -> Scenario:
    """An SSE run with churn (sessions and offline times) for the churn checks."""
    return Scenario.config(
        f"churn-sse-{'q' if quick else 'f'}",
        {
            "mechanism.kind": "sse",
            "clients.count": CLIENTS,
            "clients.session": SESSION,
            "clients.offline": OFFLINE,
            "workload.rate": 0.02,
            "experiment.warmup": 60,
            "experiment.duration": duration(quick),
            "experiment.sample_every": 10,
        },
    )


def online_fraction(m: dict[str, float]) -> float:
    """Mean online clients as a fraction of all clients."""
    return m["clients.online_mean"] / CLIENTS


def duration(quick: bool) -> float:
    """The measured window of the churn scenario (seconds)."""
    return 300.0 if quick else 1200.0


def open_rate(seconds: float, m: dict[str, float]) -> float:
    """Connections opened per second."""
    return m["connections.opened"] / seconds


def cases(quick: bool) -> list[Case]:
    """Churn checks: the online fraction and the reconnect rate against the alternating-renewal formulas."""
    reps = 5 if quick else 8
    s = scenario(quick)
    return [
        Case(
            f"churn, session {SESSION:g} s, offline {OFFLINE:g} s: online fraction",
            "churn",
            "clients.online_mean / clients",
            "fraction",
            SESSION / (SESSION + OFFLINE),
            "two-state Markov chain: S/(S+O)",
            (s,),
            online_fraction,
            Agree(),
            reps,
        ),
        Case(
            f"churn, session {SESSION:g} s, offline {OFFLINE:g} s: connections opened/s",
            "churn",
            "connections.opened / duration",
            "1/s",
            CLIENTS / (SESSION + OFFLINE),
            "renewal: N/(S+O)",
            (s,),
            partial(open_rate, duration(quick)),
            Agree(abs=CLIENTS / (SESSION + OFFLINE) * 0.005, reason="a stream opens one handshake (~0.1 s) after the return; window edges"),
            reps,
        ),
    ]
