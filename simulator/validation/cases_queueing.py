"""The server as a queue: M/M/1, M/M/c (Erlang C) and Little's law on connections.

Queue scenarios make the server node the only thing that matters: clients
poll with exponential gaps (each a Poisson process, so their superposition is
Poisson), the link is instantaneous (zero latency, 100 Gbit/s: a gap is never
stretched by a request still on the wire), keep-alive connections never idle
out, and ``request_cost`` is exponential.  The node's virtual-time worker pool
is then an M/M/c queue with λ = clients / mean gap and μ = 1 / mean cost:

- M/M/1: Wq = ρ / (μ − λ), utilisation ρ = λ/μ;
- M/M/c: Wq = C(c, a) / (cμ − λ) with a = λ/μ and Erlang's C formula,
  utilisation λ / (cμ).

``server.queue_wait_mean`` is an exact mean (not read from the histogram), so
no resolution allowance is needed; utilisation books work straddling the end
of the window into its last sample window, an over-count bounded by the work
in the system at the end (allowance 1e-4 relative, ~10x that bound).

Little's law: with ``keep_alive = false`` every poll opens a connection when
it is sent and closes it when the response is written, so the open-connection
gauge is an M/G/∞ system: mean open = arrival rate × mean holding time, the
holding time being the TCP + TLS 1.3 set-up (2 round trips), the request's
one-way trip and the service.  Exponential latencies make the holding time
random (mean 5L + bytes·8/bandwidth + c).
"""

from __future__ import annotations

from simulator.validation.core import Agree, Case, Scenario, metric
from simulator.validation.theory import mmc_wait

UTIL_ALLOWANCE = Agree(rel=1e-4, reason="work straddling the window end is booked inside it")


def queue_values(clients: int, gap: float, workers: int, cost: float, duration: float,
                 warmup: float = 20) -> dict:
    """Config keys of an M/M/c queue: ``clients`` polling with exponential gaps of mean ``gap``
    (s) on ``workers`` workers with exponential service of mean ``cost`` (s), no network delay."""
    return {
        "mechanism.kind": "short_polling",
        "mechanism.interval": {"dist": "exponential", "mean": gap},
        "clients.count": clients,
        "server.workers": workers,
        "server.request_cost": {"dist": "exponential", "mean": cost},
        "network.latency": 0,
        "network.bandwidth": "100Gbps",
        "http.keep_alive_timeout": "10h",
        "workload.rate": 0.1,
        "experiment.warmup": warmup,
        "experiment.duration": duration,
    }


def _queue(key: str, clients: int, gap: float, workers: int, cost: float, duration: float) -> Scenario:
    return Scenario.config(key, queue_values(clients, gap, workers, cost, duration))


def cases(quick: bool) -> list[Case]:
    """Queueing checks: M/M/1, M/M/c (Erlang C) and M/D/1 waits."""
    reps = 5 if quick else 10
    out: list[Case] = []
    # M/M/1 at ρ = 0.7: 700 clients polling every 1 s (exp), 1 ms exp service
    lam1, cost = 700.0, 0.001
    mm1 = _queue("mm1", 700, 1.0, 1, cost, 120 if quick else 300)
    out += [
        Case(
            "M/M/1 (ρ = 0.7): mean queue wait",
            "queueing",
            "server.queue_wait_mean",
            "s",
            mmc_wait(lam1, cost, 1),
            "M/M/1: Wq = ρ/(μ − λ)",
            (mm1,),
            metric("server.queue_wait_mean"),
            Agree(reason="none (exact mean)"),
            reps,
        ),
        Case(
            "M/M/1 (ρ = 0.7): utilisation",
            "queueing",
            "server.cpu_utilization",
            "fraction",
            lam1 * cost,
            "ρ = λ/μ",
            (mm1,),
            metric("server.cpu_utilization"),
            UTIL_ALLOWANCE,
            reps,
        ),
    ]
    # M/M/4 at ρ = 0.8: 320 clients polling every 0.1 s (exp) = 3,200 req/s, 1 ms exp service
    lam4, c = 3200.0, 4
    mm4 = _queue("mm4", 320, 0.1, c, cost, 60 if quick else 150)
    out += [
        Case(
            "M/M/4 (ρ = 0.8): mean queue wait",
            "queueing",
            "server.queue_wait_mean",
            "s",
            mmc_wait(lam4, cost, c),
            "Erlang C: Wq = C(c, a)/(cμ − λ)",
            (mm4,),
            metric("server.queue_wait_mean"),
            Agree(reason="none (exact mean)"),
            reps,
        ),
        Case(
            "M/M/4 (ρ = 0.8): utilisation",
            "queueing",
            "server.cpu_utilization",
            "fraction",
            lam4 * cost / c,
            "ρ = λ/(cμ)",
            (mm4,),
            metric("server.cpu_utilization"),
            UTIL_ALLOWANCE,
            reps,
        ),
    ]
    # Little's law: 1,000 clients, fixed 1 s polls, keep_alive = false, TLS 1.3, exp latency
    latency, bandwidth, c_req = 0.025, 100e6, 0.001
    little = Scenario.config(
        "little",
        {
            "mechanism.kind": "short_polling",
            "mechanism.interval": "1s",
            "clients.count": 1000,
            "http.keep_alive": False,
            "http.tls": "1.3",
            "network.latency": {"dist": "exponential", "mean": latency},
            "network.bandwidth": bandwidth,
            "server.workers": 16,
            "server.request_cost": c_req,
            "experiment.warmup": 20,
            "experiment.duration": 60 if quick else 120,
        },
    )
    hold = (2 * 2 + 1) * latency + 500 * 8 / bandwidth + c_req  # 2 set-up RTTs + one way + service
    out.append(
        Case(
            "Little's law: open connections, keep_alive = false",
            "queueing",
            "connections.mean",
            "connections",
            1000 / 1.0 * hold,
            "L = λW: polls/s × (TLS 1.3 set-up + one way + service)",
            (little,),
            metric("connections.mean"),
            Agree(reason="none (time-weighted mean kept exactly)"),
            reps,
        )
    )
    return out
