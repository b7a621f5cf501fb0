"""Platform push (FCM/APNs-like): quota, collapse and TTL arithmetic, store and forward, books."""

from __future__ import annotations

import numpy as np
import pytest

from models.platform_push import FCM_MAX_TTL, FCM_QUOTA_PER_MINUTE, PlatformPush
from simulator.config import load_config
from simulator.engine.runner import run
from simulator.engine.simulation import Simulation

BASE = {
    "experiment.duration": "2m",
    "experiment.warmup": "60s",
    "clients.count": 20,
    "clients.connect_over": "1s",
    "mechanism.kind": "platform_push",
    "workload.rate": 0.2,
    "workload.arrivals": "periodic",
}


def metrics(**overrides):
    return run(load_config(None, {**BASE, **overrides})).metrics


def test_defaults_are_fcms():
    config = load_config(None, {"mechanism.kind": "platform_push"})
    assert config.mechanism.params.quota_per_minute == FCM_QUOTA_PER_MINUTE == 600_000
    assert config.mechanism.params.ttl == FCM_MAX_TTL == 28 * 24 * 3600


def test_everyone_online_gets_every_notification_with_one_api_request_each():
    m = metrics()
    # 20 clients x 0.2/s x 120 s, one outbound request per notification, no connection held
    assert m["deliveries.owed"] == 480 == m["deliveries.delivered"]
    assert m["requests.total"] == m["push_service.sent"] == 480
    assert m["connections.peak"] == 0
    # the latency is the push service's (lognormal, median 0.5 s, sigma 0.5) plus ~1 ms of service
    assert m["latency.p50"] == pytest.approx(0.501, rel=0.05)


def test_fetch_adds_one_request_and_a_round_trip_per_delivery():
    plain, fetch = metrics(), metrics(**{"mechanism.fetch": True})
    assert fetch["requests.total"] == pytest.approx(2 * plain["requests.total"], abs=2)
    # TCP + TLS 1.3 (2 round trips of 50 ms) and the request and response (one more)
    assert fetch["latency.mean"] - plain["latency.mean"] == pytest.approx(0.15, abs=0.01)


def test_quota_refuses_what_a_minute_cannot_take():
    # 20 x 0.2/s = 240 messages a minute against a quota of 100: whole minutes of the run
    # (60 s warm-up, 120 s measured) each send exactly 100 and refuse the other 140
    m = metrics(**{"mechanism.quota_per_minute": 100})
    assert m["push_service.sent"] == 2 * 100
    assert m["push_service.rejected"] == 2 * 140
    assert m["deliveries.lost"] == 2 * 140
    assert m["deliveries.delivered"] == 2 * 100


def _mechanism(**overrides) -> PlatformPush:
    config = load_config(None, {**BASE, "clients.count": 1, **overrides})
    return PlatformPush(Simulation(config))


def test_collapse_keeps_only_the_newest_of_each_key():
    mech = _mechanism(**{"mechanism.collapse_keys": 2})
    m = mech.sim.metrics
    for i, t in enumerate([100.0, 110.0, 120.0, 130.0, 140.0]):  # keys 0, 1, 0, 1, 0
        mech._store(0, t, i % 2, t)
    assert [e[0] for e in mech.stored[0]] == [130.0, 140.0]
    assert m.push_service_collapsed == m.lost == 3


def test_ttl_drops_what_waited_too_long_and_delivers_the_rest():
    mech = _mechanism(**{"mechanism.ttl": "30s"})
    m = mech.sim.metrics
    for t in (100.0, 110.0, 120.0):
        mech._store(0, t, -1, t)
    mech.come_online(np.array([0]), 135.0)  # waited 35, 25 and 15 s
    assert m.push_service_expired == m.lost == 1
    assert m.delivered == 2
    assert 0 not in mech.stored


def test_ttl_zero_is_now_or_never():
    mech = _mechanism(**{"mechanism.ttl": "0s"})
    mech._store(0, 100.0, -1, 100.0)
    assert mech.sim.metrics.push_service_expired == 1 and not mech.stored


@pytest.mark.parametrize("extra", [
    {},
    {"mechanism.collapse_keys": 1},
    {"mechanism.ttl": "20s", "mechanism.fetch": True},
])
def test_books_balance_with_devices_coming_and_going(extra):
    m = metrics(**{"clients.session": "30s", "clients.offline": "30s", **extra})
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert m["deliveries.lost"] == m["push_service.collapsed"] + m["push_service.expired"]
    assert m["deliveries.delivered"] > 0
