"""Van de Vyvere, Colpaert & Verborgh: polling against SSE on one single-threaded server.

Brecht Van de Vyvere, Pieter Colpaert and Ruben Verborgh, "Comparing a
Polling and Push-Based Approach for Live Open Data Interfaces", Web
Engineering — 20th International Conference, ICWE 2020, LNCS 12128,
Springer (web version: https://brechtvdv.github.io/Article-Live-Open-Data-Interfaces/).
They benchmarked HTTP polling against Server-Sent Events for a dataset
updated live, up to 25k clients, and found SSE better in server CPU and client
latency and able to serve more than twice as many clients; SSE's memory grows
with the open connections.

The check is qualitative, because their hardware is not ours: one node with
one worker (a single-threaded server), a broadcast dataset updated every
second (100 B), clients polling every second, 400 µs of CPU per HTTP request
and 40 µs per message written to an open stream (a write on a socket is far
cheaper than parsing and answering a request).  Polling saturates where
clients × 400 µs reaches one second, 2,500 clients; SSE's fan-out where
clients × 40 µs does, 25,000.  The shape must follow:

- polling at 1,000 clients (ρ = 0.4) delivers in well under a second, and SSE
  at the same 1,000 clients does so with less CPU and lower latency;
- polling at 4,000 clients (ρ = 1.6) breaks down: mean latency above a second
  and growing with the run;
- SSE at 15,000 clients (six times polling's breaking point) keeps the 99th
  percentile under a second;
- SSE's memory grows linearly: its slope between 5,000 and 15,000 clients is
  ``server.memory_per_connection`` exactly.
"""

from __future__ import annotations

from simulator.validation.core import Agree, AtLeast, AtMost, Case, Scenario, metric

KIB = 1024.0
MEMORY_PER_CONNECTION = 40 * KIB


def _scenario(kind: str, clients: int, quick: bool) -> Scenario:
    extra = {"mechanism.interval": "1s"} if kind == "short_polling" else {}
    return Scenario.config(
        f"vdv-{kind}-{clients}-{'q' if quick else 'f'}",
        {
            "mechanism.kind": kind,
            **extra,
            "clients.count": clients,
            "clients.connect_over": 10,
            "workload.pattern": "broadcast",
            "workload.arrivals": "periodic",
            "workload.rate": 1.0,
            "workload.payload": 100,
            "server.workers": 1,
            "server.request_cost": "400us",
            "server.message_cost": "40us",
            "server.max_connections": 100_000,
            "server.memory_per_connection": MEMORY_PER_CONNECTION,
            "experiment.warmup": 12,  # every client connected / polling (10 s spread + 1 s)
            "experiment.duration": 20 if quick else 120,
        },
    )



def ratio_of(name: str):
    """A measure: metric `name` of the SSE run over the polling run's."""
    def measure(sse: dict[str, float], polling: dict[str, float]) -> float:
        return sse[name] / polling[name]

    return measure


def memory_slope(small: dict[str, float], big: dict[str, float]) -> float:
    """Bytes of server memory per extra client between the 5,000- and 15,000-client runs."""
    return (big["server.memory_peak"] - small["server.memory_peak"]) / (15_000 - 5_000)


def cases(quick: bool) -> list[Case]:
    """Van de Vyvere et al.'s qualitative SSE-against-polling findings, as cases."""
    group = "published: Van de Vyvere et al."
    src = "Van de Vyvere et al. (ICWE 2020), qualitative"
    reps = 3
    poll_1000 = _scenario("short_polling", 1_000, quick)
    sse_1000 = _scenario("sse", 1_000, quick)
    return [
        Case(
            "Van de Vyvere: polling, 1,000 clients (below saturation)",
            group,
            "latency.mean",
            "s",
            1.0,
            f"{src}: polling fine at low load",
            (poll_1000,),
            metric("latency.mean"),
            AtMost(reason="qualitative: under a second"),
            reps,
        ),
        Case(
            "Van de Vyvere: SSE/polling CPU, 1,000 clients",
            group,
            "server.cpu_utilization ratio",
            "×",
            1.0,
            f"{src}: SSE uses less server CPU",
            (sse_1000, poll_1000),
            ratio_of("server.cpu_utilization"),
            AtMost(reason="qualitative: below polling's"),
            reps,
        ),
        Case(
            "Van de Vyvere: SSE/polling latency, 1,000 clients",
            group,
            "latency.mean ratio",
            "×",
            1.0,
            f"{src}: SSE delivers with lower latency",
            (sse_1000, poll_1000),
            ratio_of("latency.mean"),
            AtMost(reason="qualitative: below polling's"),
            reps,
        ),
        Case(
            "Van de Vyvere: polling, 4,000 clients (past saturation)",
            group,
            "latency.mean",
            "s",
            1.0,
            f"{src}: polling latency breaks down at a few thousand clients",
            (_scenario("short_polling", 4_000, quick),),
            metric("latency.mean"),
            AtLeast(reason="qualitative: breaks the one-second bar"),
            reps,
        ),
        Case(
            "Van de Vyvere: SSE, 15,000 clients",
            group,
            "latency.p99",
            "s",
            1.0,
            f"{src}: SSE stays under a second far beyond polling's limit",
            (_scenario("sse", 15_000, quick),),
            metric("latency.p99"),
            AtMost(reason="qualitative: under a second"),
            reps,
        ),
        Case(
            "Van de Vyvere: SSE memory per client",
            group,
            "Δ server.memory_peak / Δ clients",
            "B",
            MEMORY_PER_CONNECTION,
            f"{src}: SSE memory grows linearly with clients (slope = memory_per_connection)",
            (_scenario("sse", 5_000, quick), _scenario("sse", 15_000, quick)),
            memory_slope,
            Agree(reason="none: every client holds one connection"),
            reps,
        ),
    ]
