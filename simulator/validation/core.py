"""The building blocks of a validation case: scenarios, rules, cases and their verdicts.

A *scenario* is something to simulate once per replication: an experiment
config (dotted overrides on the defaults, docs/design.md §4) or a plain function of the
replication's seed (for building blocks such as the backoff, checked without
a run).  Replication ``r`` runs with the seed ``sim sweep`` gives it
(:func:`simulator.workflow.grid.replication_seed`), so two scenarios of one case
with the same clients and workload see the same random numbers in the same
replication (common random numbers) and a paired ratio is meaningful.

A *case* names a quantity, the value theory or a publication gives for it
(with its source), the scenarios it needs, a ``measure`` turning one
replication's metrics into one simulated value, and a *rule* deciding
agreement.  The rule is stated before the run, from the statistics and from
the model's known resolution, never tuned to the outcome:

- :class:`Agree`: the expected value must lie inside the Student-t
  confidence interval of the replications' mean, widened by a stated
  model-resolution allowance (relative and/or absolute, with its reason);
- :class:`AtMost` / :class:`AtLeast`: a qualitative bound that the whole
  confidence interval must respect (for published *shapes*, not numbers).

The interval is the 95 % one, Bonferroni-adjusted over the suite's
stochastic cases by default (see :func:`decide`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from simulator.config.units import parse_duration

Metrics = dict[str, float]


def metric(name: str) -> Callable[[dict[str, float]], float]:
    """The measure that reads one metric (``"latency.mean"``) of a run's summary."""
    return operator.itemgetter(name)


@dataclass(frozen=True)
class Scenario:
    """One thing to simulate per replication, identified by ``key``.

    ``overrides`` are dotted config keys (``"network.latency": "25ms"``) applied
    to the defaults; ``function`` (module level, so a process pool can pickle
    it) replaces the simulation: ``function(seed) -> metrics``.  ``requires``
    names the mechanisms the scenario needs; when one is not registered the
    cases built on it are reported as skipped.
    """

    key: str
    overrides: tuple[tuple[str, Any], ...] = ()
    function: Callable[[int], Metrics] | None = None
    requires: tuple[str, ...] = ()

    @classmethod
    def config(cls, key: str, overrides: dict[str, Any]) -> Scenario:
        """A simulation scenario; its mechanism (``mechanism.kind``) is required."""
        kind = str(overrides.get("mechanism.kind", "short_polling"))
        return cls(key, tuple(overrides.items()), None, (kind,))

    @property
    def cost(self) -> float:
        """A rough relative wall-time estimate (client-seconds), to schedule big runs first."""
        if self.function is not None:  # a function may say what it costs, in the same units
            return float(getattr(self.function, "cost", 1.0))

        o = dict(self.overrides)
        clients = float(o.get("clients.count", 1000))
        span = parse_duration(o.get("experiment.duration", 600)) + parse_duration(
            o.get("experiment.warmup", 30)
        )
        return clients * span


@dataclass(frozen=True)
class Agree:
    """Pass when ``expected`` lies in mean ± (t-CI half-width + rel·|expected| + abs).

    ``reason`` says where the allowance comes from (histogram resolution, a
    documented approximation, rounding of a published figure).  With a zero
    allowance and deterministic replications this is an exact check.
    """

    rel: float = 0.0
    abs: float = 0.0
    reason: str = "none: theory must fall inside the 95 % CI"

    def allowance(self, expected: float) -> float:
        """The allowed distance from `expected`: relative plus absolute."""
        return self.rel * abs(expected) + self.abs

    def passes(self, expected: float, mean: float, half_width: float) -> bool:
        # A tiny floating-point slack: sums of millions of floats are not exact.
        """True when the mean is within its half-width plus the allowance of `expected`."""
        slack = 1e-12 * max(1.0, abs(expected))
        return abs(mean - expected) <= half_width + self.allowance(expected) + slack

    def describe(self, expected: float, fmt: Callable[[float], str]) -> str:
        """The expected value as shown."""
        return fmt(expected)


@dataclass(frozen=True)
class AtMost:
    """Qualitative: the upper end of the 95 % CI must be <= ``bound``."""

    reason: str = "qualitative bound"

    def passes(self, expected: float, mean: float, half_width: float) -> bool:
        """True when the mean plus its half-width is at most `expected`."""
        return mean + half_width <= expected

    def describe(self, expected: float, fmt: Callable[[float], str]) -> str:
        """`≤ expected`, as shown."""
        return f"≤ {fmt(expected)}"


@dataclass(frozen=True)
class AtLeast:
    """Qualitative: the lower end of the 95 % CI must be >= ``bound``."""

    reason: str = "qualitative bound"

    def passes(self, expected: float, mean: float, half_width: float) -> bool:
        """True when the mean minus its half-width is at least `expected`."""
        return mean - half_width >= expected

    def describe(self, expected: float, fmt: Callable[[float], str]) -> str:
        """`≥ expected`, as shown."""
        return f"≥ {fmt(expected)}"


Rule = Agree | AtMost | AtLeast


@dataclass(frozen=True)
class Case:
    """One row of the validation table.

    ``measure`` receives one metrics dict per scenario (same replication, same
    seed) and returns the simulated value of ``quantity`` in ``unit``.
    """

    name: str
    group: str
    quantity: str
    unit: str
    expected: float
    source: str
    scenarios: tuple[Scenario, ...]
    measure: Callable[..., float]
    rule: Rule
    replications: int = 5
    note: str = ""

    @property
    def requires(self) -> tuple[str, ...]:
        """Optional extras the case's scenarios need, sorted."""
        return tuple(sorted({k for s in self.scenarios for k in s.requires}))


@dataclass
class Verdict:
    """The outcome of one case: statistics of its replications and pass / fail / skip.

    ``half_width`` is the 95 % Student-t half-width shown in the table;
    ``decision_half_width`` the one the rule used (wider when the suite
    controls its family-wise error, see :func:`decide`).
    """

    case: Case
    status: str  # "pass" | "fail" | "skip"
    values: list[float] = field(default_factory=list)
    mean: float = math.nan
    half_width: float = math.nan
    decision_half_width: float = math.nan
    note: str = ""
    family: int = 1  # how many stochastic cases shared the suite's error rate

    @property
    def rel_error(self) -> float:
        """Relative error of the mean against the expected value (NaN when undefined)."""
        e = self.case.expected
        if self.status == "skip" or e == 0 or not isinstance(self.case.rule, Agree):
            return math.nan
        return (self.mean - e) / abs(e)

    @property
    def allowance(self) -> float:
        """The absolute allowance of an `Agree` rule (0 for bounds)."""
        rule = self.case.rule
        return rule.allowance(self.case.expected) if isinstance(rule, Agree) else 0.0

    @property
    def stochastic(self) -> bool:
        """Whether the replications differ beyond float rounding (else it cannot fail by chance)."""
        if len(self.values) < 2:
            return False
        return float(np.std(self.values)) > 1e-9 * max(1e-300, abs(self.mean))


def t_quantile(n: int, alpha: float) -> float:
    """The two-sided Student-t quantile t_(1 − alpha/2, n − 1); 0 when n < 2."""
    return float(stats.t.ppf(1 - alpha / 2, n - 1)) if n >= 2 else 0.0


def ci95(values: Sequence[float]) -> tuple[float, float]:
    """(mean, 95 % Student-t half-width) of replication values; half-width 0 if n < 2."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, 0.0
    sd = float(x.std(ddof=1))
    return mean, t_quantile(len(x), 0.05) * sd / math.sqrt(len(x))


def measure_case(case: Case, per_replication: list[list[Metrics]]) -> Verdict:
    """Apply ``case.measure`` to each replication's metrics (one per scenario); not yet decided."""
    values = [float(case.measure(*metrics)) for metrics in per_replication]
    if not values or not all(math.isfinite(v) for v in values):
        return Verdict(case, "fail", values, note="no finite simulated value")
    mean, half = ci95(values)
    return Verdict(case, "undecided", values, mean, half)


def decide(verdicts: list[Verdict], familywise: bool = True, alpha: float = 0.05) -> int:
    """Apply each case's rule; the suite's error rate is ``alpha`` when ``familywise``.

    A suite of K stochastic cases, each judged at 95 %, fails some case by
    chance with probability 1 − 0.95^K even when the model is exactly right
    (64 % for K = 20): a gate that cries wolf at every change of random
    streams.  So by default the decision uses the Bonferroni-adjusted
    Student-t interval, two-sided level 1 − alpha/K per case, which keeps the
    probability of *any* chance failure at most alpha; the table still shows
    the plain 95 % interval.  ``familywise=False`` judges each case at 95 %.
    Returns K, the number of cases the error rate is shared among.
    """
    open_ = [
        v
        for v in verdicts
        if v.status != "skip" and v.values and all(math.isfinite(x) for x in v.values)
    ]
    k = max(1, sum(1 for v in open_ if v.stochastic)) if familywise else 1
    for v in open_:
        n = len(v.values)
        sd = float(np.std(v.values, ddof=1)) if n >= 2 else 0.0
        v.decision_half_width = t_quantile(n, alpha / k) * sd / math.sqrt(n) if n >= 2 else 0.0
        ok = v.case.rule.passes(v.case.expected, v.mean, v.decision_half_width)
        v.status = "pass" if ok else "fail"
        v.family = k
    return k


def skipped(case: Case, missing: Sequence[str]) -> Verdict:
    """A case whose mechanism is not available: shown in the table, never counted as a pass."""
    return Verdict(case, "skip", note=f"skipped: mechanism not available ({', '.join(missing)})")
