"""Webhook retries end to end: the schedule of a real webhook run, per jitter mode.

Two constructions, both on webhook runs:

1. *Traced schedule.*  Every receiver is slower than the provider's timeout
   (``receiver_cost`` 60 s > ``timeout`` 10 s), so every attempt fails after
   exactly the timeout, counted from when the POST is sent (after the
   provider's 1 ms of preparation; 64 provider workers, so no queueing).  The
   webhook's attempt trace gives, for each delivery, when the provider took up
   attempt k (s_k) and when it saw it fail (f_k).  Then the backoff delay is
   d_k = s_(k+1) − f_k, which must respect its jitter mode's bounds (exactly
   v_k for ``none``), and the 7th attempt is taken up at
   s_7 − s_1 = 6 (c + timeout) + Σ d_k, whose mean is the schedule of
   :mod:`~simulator.validation.cases_backoff`.
2. *Little's law on the books.*  Every receiver refuses for the whole run
   (``receiver_outage``), so each delivery makes all 7 attempts and is lost
   when the 7th fails, G = 7 (c + 2L) + Σ d_k after it was published (a
   refusal is seen one round trip after sending).  Deliveries still pending at
   the end are those published in the last G seconds: pending / owed × window
   = E[G] (the window and the warm-up both exceed the longest G).  This uses
   only the metrics a user sees (``deliveries.pending``, ``deliveries.owed``).
   Not for decorrelated jitter: under a binding cap its mean has no closed form
   (and in the quick suite only for none and full).

Traced deliveries are those published in the first 300 s (quick: 150 s) of a run long
enough for the slowest possible schedule to finish, so which schedules are
seen does not depend on their length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import load_config, registry
from simulator.engine.simulation import Simulation
from simulator.validation.cases_backoff import (
    ATTEMPTS,
    CAP,
    FACTOR,
    INITIAL,
    TIMEOUT,
    within_bounds,
)
from simulator.validation.core import Agree, Case, Scenario, metric
from simulator.validation.theory import backoff_ceilings, decorrelated_means

COST = 0.001  # provider CPU per POST
LATENCY = 0.025
JITTERS = ("none", "full", "equal", "decorrelated")
BIG_CAP = 1000.0  # decorrelated: a cap never reached keeps E[d_k] in closed form
PUBLISH_SPAN = {True: 150.0, False: 300.0}  # traced deliveries: published in the first span


def _backoff(jitter: str, cap: float) -> dict:
    return {
        "mechanism.backoff.initial": INITIAL,
        "mechanism.backoff.factor": FACTOR,
        "mechanism.backoff.max": cap,
        "mechanism.backoff.jitter": jitter,
    }


def _common() -> dict:
    return {
        "mechanism.kind": "webhook",
        "mechanism.timeout": TIMEOUT,
        "mechanism.max_attempts": ATTEMPTS,
        "server.workers": 64,
        "server.request_cost": COST,
        "network.latency": LATENCY,
    }


@dataclass(frozen=True)
class WebhookTrace:
    """One webhook run with its attempt trace on; schedule statistics (seconds, fractions)."""

    jitter: str
    cap: float
    span: float

    @property
    def longest(self) -> float:
        """The longest possible schedule s_7 − s_1 + timeout (seconds)."""
        v = backoff_ceilings(INITIAL, FACTOR, self.cap, ATTEMPTS - 1)
        if self.jitter == "decorrelated":
            v = [min(self.cap, INITIAL * 3 ** (k + 1)) for k in range(ATTEMPTS - 1)]
        return ATTEMPTS * (COST + TIMEOUT) + sum(v)

    @property
    def cost(self) -> float:
        """Client-seconds simulated, to schedule the longest runs first."""
        return 200 * (self.span + self.longest)

    def overrides(self) -> dict:
        """The config overrides of this traced webhook scenario."""
        return {
            **_common(),
            **_backoff(self.jitter, self.cap),
            "mechanism.receiver_cost": "60s",
            "clients.count": 200,
            "workload.rate": 0.05,
            "experiment.warmup": 0,
            "experiment.duration": self.span + self.longest,
        }

    def __call__(self, seed: int) -> dict[str, float]:

        """One seeded run of the traced webhook scenario, measured."""
        config = load_config(None, {**self.overrides(), "experiment.seed": seed})
        sim = Simulation(config)
        webhook = registry.get("webhook")(sim)
        webhook.trace = []
        webhook.start()
        sim.env.run(until=sim.t_end)
        per: dict[tuple[int, float], list[tuple[int, float, str, float]]] = {}
        for receiver, published, attempt, start, outcome, seen in webhook.trace:
            if published > self.span:
                continue  # its schedule might not finish before the run ends: no selection bias
            per.setdefault((receiver, published), []).append((attempt, start, outcome, seen))
        starts, fails, outcomes = [], [], []
        for attempts in per.values():
            if len(attempts) == ATTEMPTS:
                attempts.sort()
                starts.append([a[1] for a in attempts])
                fails.append([a[3] for a in attempts])
                outcomes.append(all(a[2] == "timeout" for a in attempts))
        s, f = np.asarray(starts), np.asarray(fails)
        d = s[:, 1:] - f[:, :-1]  # backoff delay before each retry
        return {
            "t_last": float((s[:, -1] - s[:, 0]).mean()),
            "inside": within_bounds(d, self.jitter, self.cap, eps=1e-6),  # sums of floats
            "schedules": float(len(s)),
            "all_timeouts": float(np.mean(outcomes)),
        }



def outage(jitter: str, cap: float, quick: bool) -> Scenario:
    """A receiver outage with backoff `jitter` capped at `cap`."""
    return Scenario.config(
        f"webhook-outage-{jitter}-{cap:g}-{'q' if quick else 'f'}",
        {
            **_common(),
            **_backoff(jitter, cap),
            "clients.count": 5_000,
            "workload.rate": 0.01,
            "failures": [{"kind": "receiver_outage", "fraction": 1.0, "at": 0, "duration": "10h"}],
            "experiment.warmup": 70,  # > the longest schedule (61.4 s): steady state
            "experiment.duration": WINDOW[quick],
            # measured from what is still pending at the window's end: no drain
            "experiment.drain": 0,
        },
    )


def mean_delays(jitter: str, cap: float) -> float:
    """Σ E[d_k] over the six retries (seconds)."""
    v = backoff_ceilings(INITIAL, FACTOR, cap, ATTEMPTS - 1)
    if jitter == "none":
        return sum(v)
    if jitter == "full":
        return sum(v) / 2
    if jitter == "equal":
        return 0.75 * sum(v)
    return sum(decorrelated_means(INITIAL, ATTEMPTS - 1))



WINDOW = {True: 300.0, False: 600.0}


def cases(quick: bool) -> list[Case]:
    """Webhook retry checks: attempts, duplicates and delays per jitter."""
    reps = 5 if quick else 8
    group = "webhook retries"
    out = []
    for jitter in JITTERS:
        cap = BIG_CAP if jitter == "decorrelated" else CAP
        span = PUBLISH_SPAN[quick]
        traced = Scenario(
            f"webhook-trace-{jitter}-{cap:g}-{span:g}",
            function=WebhookTrace(jitter, cap, span),
            requires=("webhook",),
        )
        rule = Agree(reason="none: exact schedule") if jitter == "none" else Agree()
        out.append(
            Case(
                f"webhook run, jitter = {jitter}: attempt {ATTEMPTS} taken up at",
                group,
                f"s_{ATTEMPTS} − s_1 (traced deliveries)",
                "s",
                (ATTEMPTS - 1) * (COST + TIMEOUT) + mean_delays(jitter, cap),
                "(k−1)(c + timeout) + Σ E[d_i]",
                (traced,),
                metric("t_last"),
                rule,
                reps,
            )
        )
        bounds = traced
        if jitter == "decorrelated":  # the bounds with the default, binding cap
            bounds = Scenario(
                f"webhook-trace-{jitter}-{CAP:g}-{span:g}",
                function=WebhookTrace(jitter, CAP, span),
                requires=("webhook",),
            )
        out.append(
            Case(
                f"webhook run, jitter = {jitter}: retry delays within bounds",
                group,
                "fraction of traced deliveries",
                "fraction",
                1.0,
                "each delay after a failure within its jitter mode's bounds",
                (bounds,),
                metric("inside"),
                Agree(reason="none: every delay must respect its bounds"),
                reps,
            )
        )
        if jitter == "decorrelated" or (quick and jitter == "equal"):
            continue  # decorrelated: with a binding cap E[d_k] has no closed form
        run = outage(jitter, cap, quick)
        window = WINDOW[quick]

        def measure(m: dict[str, float], window: float = window) -> float:
            return m["deliveries.pending"] / m["deliveries.owed"] * window

        out.append(
            Case(
                f"webhook outage, jitter = {jitter}: time to give up",
                group,
                "pending / owed × window",
                "s",
                ATTEMPTS * (COST + 2 * LATENCY) + mean_delays(jitter, cap),
                "Little's law: k(c + 2L) + Σ E[d_i]",
                (run,),
                measure,
                Agree(),
                reps,
            )
        )
    return out
