"""Closed forms the validation cases compare the simulator against (seconds, bytes, 1/s).

Each function states the model it holds for; the cases document how their
scenarios meet those assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import integrate, optimize


def mean_residual(m1: float, m2: float) -> float:
    """Mean time from a random instant to the next renewal: E[S^2] / (2 E[S]) (seconds)."""
    return m2 / (2.0 * m1)


def clamped_exponential(mean: float, floor: float) -> tuple[float, float, float]:
    """(E[X], E[X^2], E[X^3]) of X = max(S, floor) with S exponential of ``mean``.

    A short-polling client never has two polls on the wire: its next poll
    leaves no earlier than the previous one reached the server, so an
    exponential gap shorter than the request's one-way time ``floor`` is
    stretched to it.  E[X^k] = d^k + ∫_d^∞ k x^(k-1) e^(-x/T) dx.
    """
    t, d = mean, floor
    tail = math.exp(-d / t)
    m1 = d + t * tail
    m2 = d * d + 2 * t * tail * (d + t)
    m3 = d**3 + 3 * t * tail * (d * d + 2 * d * t + 2 * t * t)
    return m1, m2, m3


def residual_moments(m1: float, m2: float, m3: float) -> tuple[float, float]:
    """(E[R], E[R^2]) of the time R from a random instant to the next renewal.

    The equilibrium (residual-life) distribution: E[R] = E[S^2]/(2E[S]),
    E[R^2] = E[S^3]/(3E[S]).
    """
    return m2 / (2 * m1), m3 / (3 * m1)


def censored_mean(mean: float, second_moment: float, window: float) -> float:
    """Mean delay of the events *delivered inside* a measurement window of ``window`` seconds.

    Events are published uniformly over the window and a delay D (independent
    of the publish time, D < window) is observed only if the delivery lands
    before the window ends.  So E[D | seen] = (E[D] - E[D^2]/W) / (1 - E[D]/W):
    long delays near the end are censored and the observed mean is low by
    about Var(D)/W.
    """
    w = window
    return (mean - second_moment / w) / (1 - mean / w)


def clamped_exponential_empty(mean: float, floor: float, rate: float) -> float:
    """E[e^(-rate X)] for X = max(S, floor), S exponential of ``mean``: P(Poisson gap is empty)."""
    t, d = mean, floor
    return (1 - math.exp(-d / t)) * math.exp(-rate * d) + math.exp(-d * (rate + 1 / t)) / (
        1 + rate * t
    )


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = λ/μ < c)."""
    c, a = servers, offered
    if a >= c:
        return 1.0
    term = 1.0
    total = 1.0  # sum_{k<c} a^k / k!
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c * c / (c - a)  # a^c / c! * c / (c - a)
    return last / (total + last)


def mmc_wait(arrival_rate: float, mean_service: float, servers: int) -> float:
    """Mean wait in queue of M/M/c: C(c, a) / (c μ - λ) (seconds)."""
    mu = 1.0 / mean_service
    a = arrival_rate / mu
    return erlang_c(servers, a) / (servers * mu - arrival_rate)


def long_poll_rate(rate: float, hold: float, gap: float) -> float:
    """Requests per second of one long-polling client (Poisson events of ``rate`` per second).

    After each response the client waits ``gap`` before its next request
    reaches the server; meanwhile events pile up.  The request is answered at
    once if one arrived (probability 1 - e^(-λR)), else held until the next
    event or ``hold``: mean min(Exp(λ), H) = (1 - e^(-λH)) / λ.  So the cycle
    is R + e^(-λR) (1 - e^(-λH)) / λ, and the rate its inverse; with R = 0 it
    is λ / (1 - e^(-λH)).
    """
    lam = rate
    return 1.0 / (gap + math.exp(-lam * gap) * (1 - math.exp(-lam * hold)) / lam)


def backoff_ceilings(initial: float, factor: float, cap: float, n: int) -> list[float]:
    """The un-jittered delays min(cap, initial * factor^k) for k = 0 .. n-1 (seconds)."""
    return [min(cap, initial * factor**k) for k in range(n)]


def decorrelated_means(initial: float, n: int) -> list[float]:
    """Mean delays of decorrelated jitter while the cap is never reached.

    d_k = uniform(b, 3 d_(k-1)) with d_(-1) = b, so E[d_k] = (b + 3 E[d_(k-1)]) / 2.
    """
    out, prev = [], initial
    for _ in range(n):
        prev = (initial + 3 * prev) / 2
        out.append(prev)
    return out


def censored_quantile(
    q: float,
    residual_pdf: Callable[[float], float],
    upper: float,
    shift: float,
    window: float,
) -> float:
    """The q-quantile of D = shift + R among deliveries seen inside a window (seconds).

    R has density ``residual_pdf`` on [0, upper]; as in :func:`censored_mean`,
    a delay d is seen with probability proportional to W − d, so the seen
    delays have density f(r) (W − shift − r) / normaliser.  Solved by
    quadrature and root finding.
    """
    w = window - shift
    seen = (lambda r: w - r) if math.isfinite(w) else (lambda r: 1.0)  # no censoring

    def mass(y: float) -> float:
        return integrate.quad(lambda r: residual_pdf(r) * seen(r), 0.0, y, limit=200)[0]

    total = mass(upper)
    y = optimize.brentq(lambda y: mass(y) / total - q, 0.0, upper, xtol=1e-12)
    return shift + y
