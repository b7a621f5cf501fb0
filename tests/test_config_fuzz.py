"""Fuzzing the config edge: any data or --set text gives a config or a ConfigError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import ConfigError, load_config, validate_config
from simulator.config.keys import set_dotted
from simulator.config.load import all_keys

_SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.booleans(), st.text(max_size=5),
    st.sampled_from(["5s", "-1ms", "1e999s", "10KiB", "100Mbps", "fast", "", "1.3", "node_crash",
                     "receiver_outage", "short_polling", "topics", "exponential"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["dist", "mean", "low", "high", "median", "sigma", "value", "kind", "at", "node", "x"]), inner, max_size=3),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from([k.replace(".N.", ".0.") for k in all_keys()] + ["failures", "network.latency.mean", "x"]), _VALUES), max_size=5))
def test_any_data_gives_a_config_or_a_config_error(items) -> None:
    # Fuzzing the whole edge: no input may escape as a TypeError or a traceback.
    data: dict = {}
    for key, value in items:
        try:
            set_dotted(data, key, value)
        except ConfigError:
            pass
    try:
        validate_config(data)
    except ConfigError as exc:
        assert all(line.startswith("error: ") for line in exc.lines)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=10)), max_size=3))
def test_any_set_text_gives_a_config_or_a_config_error(items) -> None:
    try:
        load_config(None, [f"{k}={v}" for k, v in items])
    except ConfigError as exc:
        assert exc.lines
