"""The validation suite in CI, and the machinery around it (rules, table, CLI).

``test_smoke_suite_agrees_with_theory`` is the gate: a change to the engine or
a mechanism that breaks agreement with a closed form or a published figure
fails the build, with the disagreeing rows in the message.  It runs the cheap
cases of every group (``simulator.validation.suite.SMOKE``, a few seconds);
the slow ones (long multi-seed runs) run with ``sim validate --quick``, which
is the check before a merge.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, stats

import simulator.validation as validation
from simulator.cli import main
from simulator.cli import validate as cli_validate
from simulator.config import registry
from simulator.validation.core import (
    Agree,
    AtLeast,
    AtMost,
    Case,
    Scenario,
    ci95,
    decide,
    measure_case,
)
from simulator.validation.execute import default_workers, run_cases
from simulator.validation.report import to_csv, to_markdown
from simulator.validation.suite import SMOKE
from simulator.validation.theory import (
    censored_mean,
    clamped_exponential,
    clamped_exponential_empty,
    erlang_c,
    long_poll_rate,
    mmc_wait,
)

# -- the gate -------------------------------------------------------------------


def test_smoke_suite_agrees_with_theory():
    cases = validation.build_cases(smoke=True)
    verdicts = run_cases(cases, workers=min(2, default_workers()))
    failed = [
        f"{v.case.name}: expected {v.case.expected!r}, simulated {v.mean!r} ± {v.half_width!r} {v.note}"
        for v in verdicts
        if v.status == "fail"
    ]
    assert not failed, "disagreement with theory:\n" + "\n".join(failed)
    available = set(registry.kinds())
    for v in verdicts:  # a case is skipped only when its mechanism really is missing
        if v.status == "skip":
            assert not set(v.case.requires) <= available, v.case.name
    assert sum(v.status == "pass" for v in verdicts) >= 15


def test_the_smoke_cases_are_quick_cases_of_every_group():
    # the suite's gate drops no check from sim validate: its cases are among the quick
    # ones, and every group but short polling (tests/test_short_polling.py holds its
    # renewal checks) keeps at least one case in the gate
    quick = validation.build_cases(quick=True)
    smoke = validation.build_cases(smoke=True)
    assert [c.name for c in smoke] == [c.name for c in quick if c.name in set(SMOKE)]
    assert len(smoke) == len(SMOKE)
    assert {c.group for c in quick} - {c.group for c in smoke} == {"short polling"}
    assert {c.name for c in quick} <= {c.name for c in validation.build_cases()}


# -- small cases for the machinery ----------------------------------------------------


def _constant(value: float):
    def fn(seed: int) -> dict[str, float]:
        return {"x": value}

    return fn


def noisy(seed: int) -> dict[str, float]:
    """N(10, 1) per replication: a stochastic case with known distribution."""
    return {"x": float(np.random.default_rng(seed).normal(10.0, 1.0))}


def _x(m: dict[str, float]) -> float:
    return m["x"]


def _case(name: str, expected: float, fn, rule=None, requires: tuple[str, ...] = (), reps: int = 3) -> Case:
    return Case(
        name,
        "test",
        "x",
        "s",
        expected,
        "constructed",
        (Scenario(f"scn-{name}", function=fn, requires=requires),),
        _x,
        rule or Agree(),
        reps,
    )


def test_ci95_matches_scipy():
    values = [1.0, 2.5, 2.0, 4.0, 3.1]
    mean, half = ci95(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert half == pytest.approx((hi - lo) / 2)


def test_rules_use_the_interval_and_the_allowance():
    # mean 10, half-width 1: 11.5 is outside, inside once an allowance of 0.6 is added
    assert Agree().passes(10.9, 10.0, 1.0)
    assert not Agree().passes(11.5, 10.0, 1.0)
    assert Agree(abs=0.6).passes(11.5, 10.0, 1.0)
    assert Agree(rel=0.05).passes(11.5, 10.0, 1.0)  # 5 % of 11.5 = 0.575
    assert AtMost().passes(2.0, 1.0, 0.5) and not AtMost().passes(1.2, 1.0, 0.5)
    assert AtLeast().passes(0.4, 1.0, 0.5) and not AtLeast().passes(0.8, 1.0, 0.5)


def test_familywise_decision_is_bonferroni_over_stochastic_cases():
    stochastic = [_case(f"s{i}", 10.0, noisy, reps=5) for i in range(4)]
    exact = _case("exact", 1.0, _constant(1.0), reps=5)
    verdicts = [measure_case(c, [[c.scenarios[0].function(r + 1)] for r in range(5)]) for c in [*stochastic, exact]]
    k = decide(verdicts, familywise=True)
    assert k == 4  # the deterministic case cannot fail by chance: not counted
    v = verdicts[0]
    sd = np.std(v.values, ddof=1)
    assert v.half_width == pytest.approx(stats.t.ppf(0.975, 4) * sd / math.sqrt(5))
    assert v.decision_half_width == pytest.approx(stats.t.ppf(1 - 0.05 / 8, 4) * sd / math.sqrt(5))
    decide(verdicts, familywise=False)
    assert v.decision_half_width == pytest.approx(v.half_width)


def test_failing_passing_and_skipped_cases_in_the_table():
    cases = [
        _case("agrees", 2.0, _constant(2.0)),
        _case("disagrees", 2.0, _constant(3.0)),
        _case("needs a missing mechanism", 2.0, _constant(2.0), requires=("carrier_pigeon",)),
    ]
    verdicts = run_cases(cases, workers=1)
    assert [v.status for v in verdicts] == ["pass", "fail", "skip"]
    assert verdicts[1].rel_error == pytest.approx(0.5)
    assert "mechanism not available (carrier_pigeon)" in verdicts[2].note
    md = to_markdown(verdicts)
    assert "1 passed, 1 failed, 1 skipped" in md
    assert "skipped: mechanism not available" in md
    rows = list(csv.DictReader(to_csv(verdicts).splitlines()))
    assert [r["status"] for r in rows] == ["pass", "fail", "skip"]
    assert float(rows[1]["mean"]) == 3.0 and rows[2]["mean"] == ""


def test_a_run_that_raises_fails_its_case_not_the_suite():
    def boom(seed: int) -> dict[str, float]:
        raise ValueError("engine exploded")

    verdicts = run_cases([_case("raises", 1.0, boom), _case("fine", 1.0, _constant(1.0))], workers=1)
    assert verdicts[0].status == "fail" and "engine exploded" in verdicts[0].note
    assert verdicts[1].status == "pass"


def _patch_cases(monkeypatch, cases):
    monkeypatch.setattr(cli_validate, "build_cases", lambda quick=False, only=None: cases)


def test_cli_exit_code_1_on_a_failing_case(monkeypatch, tmp_path):
    _patch_cases(monkeypatch, [_case("agrees", 2.0, _constant(2.0)), _case("disagrees", 2.0, _constant(3.0))])
    result = CliRunner().invoke(main, ["validate", "--quick", "--workers", "1", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "disagrees" in result.output and "1 passed, 1 failed" in result.output
    assert (tmp_path / "validation.csv").exists() and (tmp_path / "validation.md").exists()


def test_cli_exit_code_0_when_all_agree_or_skip(monkeypatch):
    _patch_cases(
        monkeypatch,
        [_case("agrees", 2.0, _constant(2.0)), _case("skipped", 2.0, _constant(9.0), requires=("carrier_pigeon",))],
    )
    result = CliRunner().invoke(main, ["validate", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed, 1 skipped" in result.output


def test_cli_only_filter_and_no_match():
    result = CliRunner().invoke(main, ["validate", "--only", "no such case anywhere", "--quiet"])
    assert result.exit_code == 2
    assert "no validation case matches" in result.output


def test_every_case_names_its_source_and_units():
    for quick in (True, False):
        cases = validation.build_cases(quick=quick)
        assert len({c.name for c in cases}) == len(cases)
        for c in cases:
            assert c.source and c.unit and c.replications >= 1 and math.isfinite(c.expected)
            assert c.rule.reason


# -- the closed forms themselves, against independent computations ----------------------


def test_erlang_c_and_mmc_wait():
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = ρ
    assert mmc_wait(700.0, 1e-3, 1) == pytest.approx(0.7 / 300.0)  # ρ/(μ − λ)
    # M/M/2 closed form: P(wait) = 2ρ²/(1 + ρ) with ρ = a/2
    rho = 0.6
    assert erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho))


def test_long_poll_rate_limits():
    lam, hold = 0.2, 10.0
    assert long_poll_rate(lam, hold, 0.0) == pytest.approx(lam / (1 - math.exp(-lam * hold)))
    assert long_poll_rate(lam, 1e9, 0.0) == pytest.approx(lam)  # endless hold: one request per event
    assert long_poll_rate(lam, hold, 1e6) == pytest.approx(1e-6, rel=1e-3)  # the gap dominates


def test_clamped_exponential_moments_by_quadrature():
    t, d, lam = 5.0, 0.3, 0.2
    m1, m2, m3 = clamped_exponential(t, d)
    pdf = lambda x: math.exp(-x / t) / t  # noqa: E731
    for k, m in ((1, m1), (2, m2), (3, m3)):
        tail = integrate.quad(lambda x, k=k: x**k * pdf(x), d, math.inf)[0]
        assert m == pytest.approx(d**k * (1 - math.exp(-d / t)) + tail, rel=1e-9)
    empty = (1 - math.exp(-d / t)) * math.exp(-lam * d) + integrate.quad(
        lambda x: math.exp(-lam * x) * pdf(x), d, math.inf
    )[0]
    assert clamped_exponential_empty(t, d, lam) == pytest.approx(empty, rel=1e-9)
    assert clamped_exponential(t, 0.0) == pytest.approx((t, 2 * t**2, 6 * t**3))


def test_censored_mean_by_simulation():
    # Publish uniform on (0, W), delay exponential: mean of the delays that land before W.
    rng = np.random.default_rng(7)
    w, mean = 100.0, 5.0
    p = rng.uniform(0, w, 2_000_000)
    dly = rng.exponential(mean, p.size)
    seen = dly[p + dly <= w]
    expected = censored_mean(mean, 2 * mean**2, w)
    assert seen.mean() == pytest.approx(expected, abs=4 * seen.std() / math.sqrt(seen.size))
    assert censored_mean(mean, 2 * mean**2, 1e12) == pytest.approx(mean)


def test_results_do_not_depend_on_the_worker_count():
    # a few multi-replication cases suffice: seeds follow the replication, not the worker
    cases = validation.build_cases(quick=True, only="broadcast to")
    one = run_cases(cases, workers=1)
    two = run_cases(cases, workers=2)
    assert [v.values for v in one] == [v.values for v in two]
    assert [v.status for v in one] == [v.status for v in two]
