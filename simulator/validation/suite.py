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


def build_cases(quick: bool = False, only: str | None = None) -> list[Case]:
    """All cases (``only``: keep those whose name or group contains the text, case-insensitive)."""
    cases = [case for module in MODULES for case in module.cases(quick)]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("two validation cases share a name")
    if only:
        needle = only.lower()
        cases = [c for c in cases if needle in c.name.lower() or needle in c.group.lower()]
    return cases
