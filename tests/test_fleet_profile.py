"""Load over time (``[profile]``): the multiplier's shapes, the trace file, and what it scales.

The published count under a rate profile is checked against theory: a thinned
Poisson process of rate ``rate * multiplier(t)`` publishes a Poisson number of
notifications with mean ``rate * ∫ multiplier dt`` (z-score within 4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import ProfileSection, validate_config
from simulator.config.load import load_config
from simulator.engine.profile import LoadProfile
from simulator.engine.runner import run


def _profile(**keys) -> LoadProfile:
    return LoadProfile(ProfileSection.model_validate(keys))


def test_diurnal_is_one_at_the_peak_and_the_trough_half_a_period_later():
    p = _profile(kind="diurnal", period="24h", peak_at="20h", trough=0.25)
    assert p.multiplier(20 * 3600.0) == pytest.approx(1.0)
    assert p.multiplier(8 * 3600.0) == pytest.approx(0.25)  # 20h - 12h
    assert p.multiplier(44 * 3600.0) == pytest.approx(1.0)  # the next day
    # halfway between trough and peak in time: halfway in level (the cosine's midpoint)
    assert p.multiplier(14 * 3600.0) == pytest.approx(0.625)
    assert p.integral(0.0, 86400.0) == pytest.approx(0.625 * 86400.0, rel=1e-6)


def test_steps_hold_each_value_from_its_time_on():
    p = _profile(kind="steps", points=[["10s", 0.5], ["1m", 1.0], ["2m", 0.0]])
    got = p.multiplier(np.array([0.0, 10.0, 59.9, 60.0, 119.0, 120.0, 1e6]))
    assert got.tolist() == [0.5, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0]
    assert p.integral(0.0, 180.0) == pytest.approx(0.5 * 60 + 1.0 * 60)


def test_trace_interpolates_linearly_and_holds_its_ends(tmp_path):
    csv = tmp_path / "day.csv"
    csv.write_text("time,multiplier\n0,0.2\n100,1.0\n300,0.6\n", encoding="utf-8")
    p = _profile(kind="trace", file=str(csv))
    assert p.multiplier(50.0) == pytest.approx(0.6)
    assert p.multiplier(200.0) == pytest.approx(0.8)
    assert p.multiplier(1000.0) == pytest.approx(0.6)
    assert p.peak == 1.0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("time,multiplier\n", "has no rows"),
        ("0,0.5\n10,abc\n", "row 2: not numbers"),
        ("0,0.5\n10\n", "expected 2 columns"),
        ("0,0.5\n0,0.7\n", "times must increase"),
        ("0,-1\n", "must be finite and >= 0"),
        ("0,0.5\n10,1.5\n", "must be <= 1"),
    ],
)
def test_bad_trace_file_is_one_error_line_and_exit_2(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "day.csv").write_text(content, encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text('[profile]\nkind = "trace"\nfile = "day.csv"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: profile.file: "), lines
    assert problem in lines[0]
    assert not (tmp_path / "out").exists()


def test_trace_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "t.csv").write_text("0,0.5\n", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text('[profile]\nkind = "trace"\nfile = "traces/t.csv"\napplies_to = ["rate"]\n', encoding="utf-8")
    loaded = load_config(config)
    assert loaded.profile.file == str(tmp_path / "traces" / "t.csv")
    assert validate_config(loaded.to_dict()).profile.file == loaded.profile.file  # round trip


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"kind": "steps"}, "profile.points: steps needs points"),
        ({"kind": "steps", "points": [["1m", 1.0], ["10s", 0.5]]}, "profile.points: times must increase"),
        ({"kind": "steps", "points": [["0s", 2.0]]}, "profile.points: a multiplier of the clients must be <= 1"),
        ({"kind": "diurnal", "points": [["0s", 1.0]]}, "profile.points: diurnal does not take points"),
        ({"kind": "diurnal", "applies_to": []}, "profile.applies_to: must name clients, rate or both"),
        ({"kind": "diurnal", "applies_to": ["users"]}, "profile.applies_to.0"),
        ({"kind": "weekly"}, "profile.kind"),
    ],
)
def test_bad_profile_keys_are_refused(profile, message):
    with pytest.raises(Exception) as info:
        validate_config({"profile": profile}, "c.toml")
    assert message in str(info.value)


def _config(profile: dict | None, **sections) -> dict:
    data = {
        "experiment": {"duration": "200s", "warmup": "0s", "sample_every": "10s", "seed": 5},
        "clients": {"count": 1, "connect_over": "0s"},
        "mechanism": {"kind": "webhook"},
        "workload": {"pattern": "broadcast", "rate": 20.0},
    }
    for name, keys in sections.items():
        data.setdefault(name, {}).update(keys)
    if profile is not None:
        data["profile"] = profile
    return data


RATE_STEPS = {"kind": "steps", "points": [["0s", 0.25], ["50s", 1.0], ["120s", 0.5]], "applies_to": ["rate"]}


def test_published_count_under_a_rate_profile_matches_the_integral():
    """Poisson: owed ~ Poisson(rate * ∫ m dt) = 20 * (12.5 + 70 + 40) = 2450; |z| < 4."""
    expected = 20.0 * (0.25 * 50 + 1.0 * 70 + 0.5 * 80)
    for seed in (1, 2):
        owed = run(validate_config(_config(RATE_STEPS, experiment={"seed": seed}))).metrics["deliveries.owed"]
        assert abs(owed - expected) / math.sqrt(expected) < 4, (owed, expected)


def test_periodic_arrivals_scale_their_gaps():
    """Periodic: one publish per period / multiplier; the count is the integral, within a cycle per step."""
    data = _config(RATE_STEPS, workload={"arrivals": "periodic", "rate": 2.0})
    owed = run(validate_config(data)).metrics["deliveries.owed"]
    assert abs(owed - 2.0 * 122.5) <= 3, owed


def test_every_mechanism_sees_the_same_notifications_under_a_profile():
    owed = {
        kind: run(validate_config(_config(
            {"kind": "diurnal", "period": "100s", "peak_at": "30s", "trough": 0.1},
            mechanism={"kind": kind}, clients={"count": 5}, experiment={"duration": "60s"},
        ))).metrics["deliveries.owed"]
        for kind in ("webhook", "sse", "long_polling")
    }
    assert len(set(owed.values())) == 1, owed


def test_population_follows_the_profile_by_client_index():
    """Steps 0.5 -> 1.0 -> 0.25 of 40 clients: the mean online count is the time-weighted target."""
    data = _config(
        {"kind": "steps", "points": [["0s", 0.5], ["60s", 1.0], ["150s", 0.25]], "applies_to": ["clients"]},
        mechanism={"kind": "sse"}, clients={"count": 40}, workload={"rate": 0.05},
    )
    result = run(validate_config(data))
    m = result.metrics
    assert m["clients.online_mean"] == pytest.approx((20 * 60 + 40 * 90 + 10 * 50) / 200)
    assert m["clients.online_peak"] == 40
    assert m["clients.sessions"] == 20  # the 20 admitted at 60 s
    online = result.timeseries["clients_online"]
    assert online[0] == 20 and online[10] == 40 and online[-1] == 10
    assert result.timeseries["open_connections"][-1] == 10  # the others closed their streams


def test_without_the_new_sections_the_resolved_config_is_unchanged():
    resolved = validate_config({}).to_dict()
    assert "profile" not in resolved
    assert "session" not in resolved["clients"] and "offline" not in resolved["clients"]
