"""The client radio's power state machine against its closed forms (docs/mobile.md)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import RADIO_PROFILES, load_config
from simulator.engine.radio import RadioRecorder
from simulator.engine.runner import run

LTE = RADIO_PROFILES["lte"]
#: Energy of one isolated burst of bytes: the promotion, then the whole tail (joules).
BURST_J = LTE["promotion"] * LTE["promotion_power"] + LTE["tail"] * LTE["tail_power"]

BASE = {
    "experiment.duration": "1h",
    "experiment.warmup": "60s",
    "experiment.drain": "0s",
    "clients.count": 2,
    "clients.radio.kind": "lte",
    "network.latency": "25ms",
    "workload.arrivals": "periodic",
    "workload.rate": 0.0,
}


def metrics(**overrides):
    return run(load_config(None, {**BASE, **overrides})).metrics


def test_polling_slower_than_the_tail_pays_promotion_and_tail_per_poll():
    # I = 20 s > tail 11.6 s: every poll finds the radio idle.  The request and its response
    # are one round trip apart (2 x 25 ms + 1 ms service + serialisation), so the radio is on
    # for that round trip plus the tail, after the promotion.
    m = metrics(**{"mechanism.kind": "short_polling", "mechanism.interval": "20s"})
    polls_per_hour = 3600 / 20
    per_poll = BURST_J + 0.0515 * LTE["tail_power"]
    assert m["clients.energy_joules_per_hour"] == pytest.approx(polls_per_hour * per_poll, rel=0.01)
    on = LTE["promotion"] + 0.0515 + LTE["tail"]
    assert m["clients.radio_active_fraction"] == pytest.approx(on / 20, rel=0.01)


def test_polling_faster_than_the_tail_keeps_the_radio_on():
    m = metrics(**{"mechanism.kind": "short_polling", "mechanism.interval": "5s"})
    assert m["clients.radio_active_fraction"] == pytest.approx(1.0)
    assert m["clients.energy_joules_per_hour"] == pytest.approx(3600 * LTE["tail_power"], rel=1e-6)


def test_push_costs_one_burst_per_delivery_at_low_rates():
    # one event a minute to each client, no heartbeat: each delivery wakes the radio once
    m = metrics(**{"mechanism.kind": "sse", "mechanism.heartbeat": "0s", "workload.rate": 1 / 60})
    per_client_hour = m["deliveries.delivered"] / 2
    assert per_client_hour == pytest.approx(60, abs=1)
    assert m["clients.energy_joules_per_hour"] == pytest.approx(per_client_hour * BURST_J, rel=0.01)


def test_heartbeats_count_as_activity():
    quiet = metrics(**{"mechanism.kind": "websocket", "mechanism.heartbeat": "0s"})
    beating = metrics(**{"mechanism.kind": "websocket", "mechanism.heartbeat": "60s"})
    assert quiet["clients.energy_joules_per_hour"] < BURST_J  # only the connection set-up
    assert beating["clients.energy_joules_per_hour"] == pytest.approx(60 * BURST_J, rel=0.02)


def test_no_radio_costs_nothing_and_reports_zero():
    m = metrics(**{"clients.radio.kind": "none", "mechanism.kind": "short_polling", "mechanism.interval": "20s"})
    assert m["clients.energy_joules_per_hour"] == 0.0
    assert m["clients.radio_active_fraction"] == 0.0


def test_recorder_arithmetic_with_gaps_either_side_of_the_tail():
    params = {"promotion": 1.0, "promotion_power": 2.0, "tail": 10.0, "tail_power": 1.0}
    rec = RadioRecorder(1, params, 0.0, 3600.0)
    for t in (100.0, 104.0, 200.0):  # 4 s gap: one promotion; 96 s gap: a second one
        rec.activity(0, t)
    out = rec.finish()
    energy = 2 * 1.0 * 2.0 + (4.0 + 10.0 + 10.0) * 1.0
    assert out["clients.energy_joules_per_hour"] == pytest.approx(energy)
    assert out["clients.radio_active_fraction"] == pytest.approx((2 * 1.0 + 24.0) / 3600.0)


def test_recorder_heartbeat_expansion():
    rec = RadioRecorder(3, {"promotion": 0.0, "promotion_power": 0.0, "tail": 1.0, "tail_power": 1.0}, 0.0, 100.0)
    rec.periodic(np.array([0, 2]), np.array([0.0, 50.0]), np.array([10.0, 200.0]), 5.0)
    # client 0: beats at 5, 10; client 2: 55 .. 100 (10 beats); the one at 100 has no tail
    # left inside the window: 11 one-second tails over 3 clients and 100 s
    assert rec.finish()["clients.energy_joules_per_hour"] == pytest.approx(11 * 1.0 / 3 / (100 / 3600))
