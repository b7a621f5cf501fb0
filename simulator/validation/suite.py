"""The validation suite: every case module's cases, in table order.

``quick`` asks each module for fewer replications or shorter runs; its rules
stay the same, since tolerances follow from the replications' own CI.
"""

from __future__ import annotations

from simulator.validation import (
    cases_backoff,
    cases_bozdag,
    cases_churn,
    cases_fleet,
    cases_longpoll,
    cases_lubbers,
    cases_polling,
    cases_push,
    cases_queueing,
    cases_vandevyvere,
    cases_webhook,
)
from simulator.validation.core import Case

MODULES = (
    cases_polling,
    cases_queueing,
    cases_longpoll,
    cases_push,
    cases_backoff,
    cases_webhook,
    cases_churn,
    cases_lubbers,
    cases_bozdag,
    cases_vandevyvere,
    cases_fleet,
)


#: The cases the test suite runs on every change (tests/validation/test_validate_quick.py):
#: the cheaper runs of each group, about a tenth of the quick suite's work.  The others
#: (short polling's 5-minute renewal runs, the webhook outages, Van de Vyvere at 15,000
#: SSE clients, Lubbers at 100,000, ...) run with ``sim validate`` and ``sim validate --quick``.
SMOKE = (
    "M/M/4 (ρ = 0.8): mean queue wait",
    "M/M/4 (ρ = 0.8): utilisation",
    "long polling, hold 10 s, gap 2 s: requests/s per client",
    "long polling, hold 10 s, gap 2 s: empty fraction",
    "WebSocket broadcast to 1,000: mean latency",
    "SSE broadcast to 1,000: mean latency",
    "retry schedule, jitter = full: time of attempt 7",
    "retry schedule, jitter = decorrelated: delays within bounds (vector)",
    "webhook run, jitter = none: attempt 7 taken up at",
    "webhook run, jitter = none: retry delays within bounds",
    "churn, session 60 s, offline 30 s: online fraction",
    "churn, session 60 s, offline 30 s: connections opened/s",
    "Lubbers & Greco: polling 1/s, 1,000 clients",
    "Lubbers & Greco: WebSocket 1 msg/s, 1,000 clients",
    "Bozdag series, publish every 1 s: requests pull/push",
    "Bozdag series, publish every 1 s: bytes pull/push",
    "Van de Vyvere: SSE/polling CPU, 1,000 clients",
    "scale_to 2 → 6 → 3 (boot, drain): node-hours",
)


def build_cases(quick: bool = False, only: str | None = None, smoke: bool = False) -> list[Case]:
    """All cases (``only``: keep those whose name or group contains the text, case-insensitive;
    ``smoke``: only the quick cases named in :data:`SMOKE`)."""
    cases = [case for module in MODULES for case in module.cases(quick or smoke)]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("two validation cases share a name")
    if smoke:
        cases = [c for c in cases if c.name in SMOKE]
    if only:
        needle = only.lower()
        cases = [c for c in cases if needle in c.name.lower() or needle in c.group.lower()]
    return cases
