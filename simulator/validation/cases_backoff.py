"""Webhook retry schedule: when the k-th attempt happens, for each jitter mode.

The provider's attempts of one delivery, all failing after ``timeout``, happen
at t_1 = 0 and t_k = (k − 1)·timeout + d_0 + … + d_(k−2), where d_i is the
backoff delay before retry i (AWS "Exponential Backoff and Jitter", Brooker
2015; ceilings v_i = min(max, initial·factor^i)):

- none: d_i = v_i, so t_k is exact;
- full: d_i ~ U(0, v_i): within [0, v_i], mean v_i/2;
- equal: d_i = v_i/2 + U(0, v_i/2): within [v_i/2, v_i], mean 3v_i/4;
- decorrelated: d_i = min(max, U(initial, 3·d_(i−1))): within
  [initial, min(max, 3·d_(i−1))]; while the cap is out of reach
  E[d_i] = (initial + 3 E[d_(i−1)]) / 2.

The :class:`~simulator.engine.backoff.Backoff` that every reconnect and retry uses
is checked directly (scalar and vector forms), on its own random stream;
webhook runs check the same schedule end to end (see ``cases_webhook``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import BackoffSection
from simulator.engine.backoff import Backoff
from simulator.validation.core import Agree, Case, Scenario, metric
from simulator.validation.theory import backoff_ceilings, decorrelated_means

INITIAL, FACTOR, CAP = 1.0, 2.0, 30.0
TIMEOUT = 10.0  # webhook default: each failing attempt takes the full timeout
ATTEMPTS = 7  # k = 1..7: six retries, the last one capped (1, 2, 4, 8, 16, 30 s)
SCHEDULES = 4000  # delivery schedules drawn per replication


@dataclass(frozen=True)
class BackoffSchedules:
    """Draws ``SCHEDULES`` retry schedules from a :class:`Backoff` seeded by the replication.

    Returns the mean time of the last attempt (seconds) and the fraction of
    delays inside their jitter mode's bounds, for the scalar ``delay`` and the
    vector ``delays`` (reconnect storms) forms.
    """

    jitter: str
    cap: float = CAP

    def __call__(self, seed: int) -> dict[str, float]:
        """Draw the schedules for one replication seed: the mean last-attempt time and the in-bounds fractions."""
        section = BackoffSection(initial=INITIAL, max=self.cap, factor=FACTOR, jitter=self.jitter)
        backoff = Backoff(section, np.random.default_rng(seed))
        n = ATTEMPTS - 1
        d = np.empty((SCHEDULES, n))
        for s in range(SCHEDULES):
            prev = 0.0
            for i in range(n):
                prev = backoff.delay(i, prev)
                d[s, i] = prev
        # vector form: one column at a time, as a reconnect storm retries a crowd together
        dv = np.empty((SCHEDULES, n))
        prev_v = np.zeros(SCHEDULES)
        for i in range(n):
            prev_v = backoff.delays(np.full(SCHEDULES, i), prev_v)
            dv[:, i] = prev_v
        t_last = (ATTEMPTS - 1) * TIMEOUT + d.sum(axis=1)
        return {
            "t_last": float(t_last.mean()),
            "t_last_vector": float(((ATTEMPTS - 1) * TIMEOUT + dv.sum(axis=1)).mean()),
            "inside": within_bounds(d, self.jitter, self.cap),
            "inside_vector": within_bounds(dv, self.jitter, self.cap),
        }


def within_bounds(d: np.ndarray, jitter: str, cap: float, eps: float = 1e-12) -> float:
    """Fraction of schedules (rows of delays) whose every delay lies within the mode's bounds.

    ``eps`` is the slack: 1e-12 for delays drawn directly, 1 µs for delays read back
    from simulated times (sums of floats).
    """
    v = np.asarray(backoff_ceilings(INITIAL, FACTOR, cap, d.shape[1]))
    if jitter == "none":
        ok = np.abs(d - v) <= eps
    elif jitter == "full":
        ok = (d >= -eps) & (d <= v + eps)
    elif jitter == "equal":
        ok = (d >= v / 2 - eps) & (d <= v + eps)
    else:
        prev = np.concatenate([np.full((len(d), 1), INITIAL), d[:, :-1]], axis=1)
        ok = (d >= INITIAL - eps) & (d <= np.minimum(cap, 3 * prev) + eps)
    return float(ok.all(axis=1).mean())



def cases(quick: bool) -> list[Case]:
    """The backoff checks: mean total delay per jitter against the closed form."""
    reps = 5 if quick else 10
    v = backoff_ceilings(INITIAL, FACTOR, CAP, ATTEMPTS - 1)
    base = (ATTEMPTS - 1) * TIMEOUT
    big_cap = 1000.0  # 3^6 = 729 < 1000: the cap never binds, the mean recursion is exact
    expected = {
        "none": base + sum(v),
        "full": base + sum(v) / 2,
        "equal": base + 0.75 * sum(v),
        "decorrelated": base + sum(decorrelated_means(INITIAL, ATTEMPTS - 1)),
    }
    bounds = {
        "none": "d_k = v_k exactly",
        "full": "d_k ∈ [0, v_k]",
        "equal": "d_k ∈ [v_k/2, v_k]",
        "decorrelated": "d_k ∈ [initial, min(max, 3·d_(k−1))]",
    }
    formula = {
        "none": "(k−1)·timeout + Σ min(max, initial·2^i)",
        "full": "(k−1)·timeout + Σ v_i/2",
        "equal": "(k−1)·timeout + Σ 3v_i/4",
        "decorrelated": "(k−1)·timeout + Σ E[d_i], E[d_i] = (b + 3E[d_(i−1)])/2 (max = 1000 s)",
    }
    out = []
    for jitter in ("none", "full", "equal", "decorrelated"):
        mean_run = Scenario(
            f"backoff-{jitter}-mean",
            function=BackoffSchedules(jitter, big_cap if jitter == "decorrelated" else CAP),
        )
        bound_run = (
            mean_run
            if jitter != "decorrelated"
            else Scenario(f"backoff-{jitter}-bounds", function=BackoffSchedules(jitter, CAP))
        )
        rule = Agree(reason="none: exact schedule") if jitter == "none" else Agree()
        out.append(
            Case(
                f"retry schedule, jitter = {jitter}: time of attempt {ATTEMPTS}",
                "webhook retries",
                f"t_{ATTEMPTS} (mean of {SCHEDULES} schedules)",
                "s",
                expected[jitter],
                f"AWS backoff and jitter: {formula[jitter]}",
                (mean_run,),
                metric("t_last"),
                rule,
                reps,
            )
        )
        for form, key in (("scalar", "inside"), ("vector", "inside_vector")):
            out.append(
                Case(
                    f"retry schedule, jitter = {jitter}: delays within bounds ({form})",
                    "webhook retries",
                    "fraction of schedules",
                    "fraction",
                    1.0,
                    f"{bounds[jitter]} (max = {CAP:g} s)",
                    (bound_run,),
                    metric(key),
                    Agree(reason="none: every delay must respect its bounds"),
                    reps,
                )
            )
        if jitter != "none":
            out.append(
                Case(
                    f"retry schedule, jitter = {jitter}: attempt {ATTEMPTS} (vector form)",
                    "webhook retries",
                    f"t_{ATTEMPTS} (mean of {SCHEDULES} schedules)",
                    "s",
                    expected[jitter],
                    "same as the scalar form (reconnect storms draw delays in bulk)",
                    (mean_run,),
                    metric("t_last_vector"),
                    Agree(),
                    reps,
                )
            )
    return out
