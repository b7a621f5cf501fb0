"""Client churn (``clients.session``, ``clients.offline``): theory, the books, what stays owed.

Theory (a two-state Markov chain per client, exponential sessions S and offline
periods O): the online fraction is S / (S + O) and sessions start at N / (S + O)
per second.  Tolerances come from the process itself, not from tuning:

* the time-average of a client's online indicator over T has variance
  2 p (1 - p) tau / T with tau = S O / (S + O) (its correlation time);
* the number of sessions a client starts in T (a renewal process of cycle S + O,
  cycle variance S^2 + O^2) has variance T (S^2 + O^2) / (S + O)^3.

Summed over N independent clients and two seeds, each check is within 4 sigma.
"""

from __future__ import annotations

import math

import pytest

from simulator.config import ConfigError, validate_config
from simulator.engine.runner import run

N, S, OFF, T = 120, 40.0, 20.0, 400.0
KINDS = ("short_polling", "long_polling", "sse", "websocket", "webhook")


def _config(kind: str = "sse", seed: int = 1, n: int = N, t: float = T, **mechanism) -> dict:
    return {
        "experiment": {"duration": f"{t:g}s", "warmup": "30s", "sample_every": "10s", "seed": seed},
        "clients": {"count": n, "connect_over": "5s", "session": f"{S:g}s", "offline": f"{OFF:g}s"},
        "mechanism": {"kind": kind, **mechanism},
        "workload": {"rate": 0.02},
    }


@pytest.fixture(scope="module")
def sse_runs():
    return [run(validate_config(_config(seed=seed))).metrics for seed in (1, 2)]


def test_online_fraction_is_session_over_session_plus_offline(sse_runs):
    p = S / (S + OFF)
    tau = S * OFF / (S + OFF)
    sd_per_run = math.sqrt(2 * p * (1 - p) * tau / T / N)
    got = sum(m["clients.online_mean"] for m in sse_runs) / (N * len(sse_runs))
    assert abs(got - p) < 4 * sd_per_run / math.sqrt(len(sse_runs)), (got, p)


def test_sessions_and_connections_open_at_n_over_session_plus_offline(sse_runs):
    expected = N * T / (S + OFF) * len(sse_runs)
    sd = math.sqrt(N * len(sse_runs) * T * (S**2 + OFF**2) / (S + OFF) ** 3)
    sessions = sum(m["clients.sessions"] for m in sse_runs)
    opened = sum(m["connections.opened"] for m in sse_runs)
    assert abs(sessions - expected) < 4 * sd, (sessions, expected, sd)
    # each return opens one stream: the open rate is the session rate (edges of the window aside)
    assert abs(opened - sessions) <= 10, (opened, sessions)


def test_closing_a_stream_to_go_offline_is_not_a_drop_or_a_reconnect(sse_runs):
    for m in sse_runs:
        assert m["connections.dropped"] == 0 and m["reconnects.total"] == 0
        assert m["connections.refused"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_books_balance_and_offline_notifications_stay_owed(kind):
    """Pull fetches the backlog, SSE replays (buffer 1000), WebSocket resumes: nothing lost.

    Webhook retries (1 s, 2 s, ... capped at 30 s, 5 attempts by default) give up on
    receivers offline for longer; their notifications are lost, counted as gave-up.
    """
    params = {"resume": True} if kind == "websocket" else {}
    m = run(validate_config(_config(kind, n=40, t=200.0, **params))).metrics  # run() raises if the books do not balance
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    if kind == "webhook":
        assert m["deliveries.lost"] == m["webhook.gave_up"] > 0
        assert m["connections.refused"] > 0  # offline receivers refuse, as in an outage
    else:
        assert m["deliveries.lost"] == 0
        # a notification waits for its client's return: the mean latency is of the order of OFF
        assert m["latency.mean"] > 0.1 * OFF


def test_websocket_without_resume_loses_what_was_published_while_away():
    m = run(validate_config(_config("websocket", n=40, t=200.0))).metrics
    assert m["deliveries.lost"] > 0
    assert m["latency.mean"] < 1.0  # only what arrives while connected is delivered


def test_churn_is_deterministic_for_a_seed():
    a = run(validate_config(_config("long_polling", seed=3, n=30, t=100.0))).metrics
    b = run(validate_config(_config("long_polling", seed=3, n=30, t=100.0))).metrics
    assert a == b


def test_offline_must_be_positive():
    with pytest.raises(ConfigError) as info:
        validate_config({"clients": {"session": "1m", "offline": "0s"}}, "c.toml")
    assert "clients.offline" in str(info.value)
