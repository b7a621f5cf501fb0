"""Units: parse/format round trips (property tests) and rejection of garbage."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.config.distributions import Distribution, parse_distribution
from simulator.config.units import (
    DURATION_UNITS,
    RATE_UNITS,
    SIZE_UNITS,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

non_negative = st.floats(min_value=0.0, max_value=1e15, allow_nan=False, allow_infinity=False)
PAIRS = [
    (parse_duration, format_duration, DURATION_UNITS),
    (parse_size, format_size, SIZE_UNITS),
    (parse_rate, format_rate, RATE_UNITS),
]


@settings(max_examples=300, deadline=None)
@given(non_negative)
def test_format_then_parse_is_exact(x: float) -> None:
    # The resolved config must run to the same numbers: no rounding on the way.
    for parse, fmt, _ in PAIRS:
        assert parse(fmt(x)) == x


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.data())
def test_number_with_unit_is_number_times_factor(n: int, data) -> None:
    for parse, _, units in PAIRS:
        unit = data.draw(st.sampled_from(sorted(units)))
        value = parse(f"{n}{unit}")
        assert math.isclose(value, n * units[unit], rel_tol=1e-15)
        assert parse(f" {n} {unit} ") == value  # blanks around and between are fine


@settings(max_examples=200, deadline=None)
@given(non_negative)
def test_bare_numbers_are_base_units(x: float) -> None:
    for parse, _, _ in PAIRS:
        assert parse(x) == x
        assert parse(repr(x)) == x


def test_design_examples() -> None:
    # docs/design.md §4's own examples, against their definitions.
    assert parse_duration("250us") == 250e-6
    assert parse_duration("40ms") == 0.040
    assert parse_duration("5s") == 5.0
    assert parse_duration("2m") == 120.0
    assert parse_duration("1h") == 3600.0
    assert parse_size("871B") == 871
    assert parse_size("64KiB") == 65536
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("5kB") == 5000
    assert parse_rate("100Mbps") == 100e6
    assert parse_rate("1Gbps") == 1e9


@pytest.mark.parametrize(
    "value, expected",
    [(0.025, "25ms"), (600.0, "10m"), (50e-6, "50us"), (0.0015, "1.5ms"), (90.0, "90s"), (0.0, "0s")],
)
def test_durations_print_the_way_people_write_them(value: float, expected: str) -> None:
    assert format_duration(value) == expected


def test_sizes_and_rates_print_the_way_people_write_them() -> None:
    assert format_size(40 * 1024) == "40KiB"
    assert format_size(256 * 2**20) == "256MiB"
    assert format_size(200) == "200B"
    assert format_rate(100e6) == "100Mbps"


garbage_text = st.text(alphabet="abcxyz!?#@ ,;-", min_size=1, max_size=12).filter(
    lambda s: s.strip() not in ("",)
)


@settings(max_examples=200, deadline=None)
@given(garbage_text)
def test_garbage_text_is_rejected(text: str) -> None:
    for parse, _, _ in PAIRS:
        with pytest.raises(ValueError):
            parse(text)


@pytest.mark.parametrize(
    "value",
    ["5 parsecs", "-5s", "1e999s", "nan", "inf", "5s5", "", "5..5s", True, None, [5], {"a": 1},
     float("nan"), float("inf"), -1, -0.5],
)
def test_bad_durations_are_rejected_with_a_message(value) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value)  # a message the config layer shows after the key path


def test_unknown_unit_suggests_the_nearest() -> None:
    with pytest.raises(ValueError, match="did you mean 'Mbps'"):
        parse_rate("100mbps")
    with pytest.raises(ValueError, match="did you mean 's'"):
        parse_duration("5 sec")
    with pytest.raises(ValueError, match="known: ns, us"):
        parse_duration("5 parsecs")


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["constant", "exponential", "uniform", "lognormal"]),
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.floats(min_value=0, max_value=3, allow_nan=False),
)
def test_distribution_tables_round_trip(kind: str, a: float, b: float, sigma: float) -> None:
    assume(kind != "lognormal" or a > 0)  # a lognormal's median must be > 0 (log 0 is undefined)
    low, high = sorted((a, b))
    dist = {
        "constant": Distribution("constant", a),
        "exponential": Distribution("exponential", a),
        "uniform": Distribution("uniform", low, high),
        "lognormal": Distribution("lognormal", a, sigma),
    }[kind]
    assert parse_distribution(dist.to_config()) == dist


@pytest.mark.parametrize(
    "table, message",
    [
        ({"mean": "2ms"}, "needs dist"),
        ({"dist": "gamma", "mean": "2ms"}, "dist must be one of"),
        ({"dist": "exponental", "mean": "2ms"}, "did you mean 'exponential'"),
        ({"dist": "exponential"}, "missing 'mean'"),
        ({"dist": "exponential", "mean": "2ms", "sigma": 1}, "unknown key 'sigma'"),
        ({"dist": "uniform", "low": "30ms", "high": "10ms"}, "low <= high"),
        ({"dist": "lognormal", "median": "20ms", "sigma": -1}, "sigma"),
        ({"dist": "lognormal", "median": "20ms", "sigma": 50}, "between 0 and 10"),
        ({"dist": "lognormal", "median": "20ms", "sigma": "wide"}, "sigma"),
        ({"dist": "exponential", "mean": "-2ms"}, "mean: must be >= 0"),
        ({"dist": "constant", "value": "5 parsecs"}, "value: unknown unit"),
    ],
)
def test_bad_distribution_tables(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_distribution(table)


def test_distribution_moments_match_their_definitions() -> None:
    # E[X] and E[X^2] feed the residual-time formula E[I^2] / (2 E[I]).
    assert Distribution("exponential", 2.0).second_moment == 8.0
    assert Distribution("uniform", 1.0, 3.0).mean == 2.0
    assert math.isclose(Distribution("uniform", 1.0, 3.0).second_moment, 13 / 3)
    lognormal = Distribution("lognormal", 1.0, 0.5)
    assert math.isclose(lognormal.mean, math.exp(0.125))
    assert math.isclose(lognormal.second_moment, math.exp(0.5))
