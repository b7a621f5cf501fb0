"""Random configs, valid and invalid, through ``sim run`` in process.

Built from the real config keys (every key of every section and mechanism) with
plausible and implausible values of each key's type, on top of a tiny
experiment (4 clients, 3 s) so each run takes a fraction of a second.  Whatever
the config, ``sim run`` ends with exit 0 (and balanced books) or exit 2 (one
``error:`` line per problem): never a traceback, never an exception escaping.
"""

from __future__ import annotations

import json
import math

import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.config import ExperimentConfig, registry
from simulator.config.keys import KeyPathError, set_dotted, submodel, unit_label
from simulator.config.load import all_keys

BASE = {
    "experiment": {"name": "fuzz", "duration": "3s", "warmup": "1s", "drain": "2s"},
    "clients": {"count": 4, "connect_over": "1s"},
}

DURATIONS = ["0s", "1ms", "40ms", "1s", "2s", 0.5]
PLAUSIBLE = {
    "duration": DURATIONS,
    "duration or distribution": [*DURATIONS, {"dist": "exponential", "mean": "5ms"},
                                 {"dist": "uniform", "low": "1ms", "high": "9ms"},
                                 {"dist": "lognormal", "median": "10ms", "sigma": 0.5}],
    "size": ["0B", "200B", "1KiB", 100],
    "link rate (bits/s)": ["1Mbps", "100Mbps", 1e6],
    "true | false": [True, False],
    "integer": [0, 1, 2, 3],
    "number": [0, 0.1, 0.5, 1, 2],
    "text": ["x", "fuzz run <b>", ""],
}
IMPLAUSIBLE = [-1, -0.5, "-1s", "1e999s", "5 parsecs", "nan", math.nan, math.inf, True, "abc", 1e12, "1ns",
               1.25, "a\x00b", [1, 2], {"x": 1}, {"dist": "lognormal", "median": "0s", "sigma": 1},
               {"dist": "uniform", "low": "2s", "high": "1s"}, [[[[1]]]]]


def _field(key: str):
    parts = key.split(".")
    if parts[0] == "mechanism" and parts[1] not in ("kind", "backoff"):
        for kind in registry.kinds():
            field = registry.get(kind).Params.model_fields.get(parts[1])
            if field is not None:
                return field
    model = ExperimentConfig
    for part in parts[:-1]:
        if part != "N":
            model = submodel(model.model_fields[part].annotation)
    return model.model_fields[parts[-1]]


KEYS = [k for k in all_keys() if not k.startswith("sweep.")]


def _plausible(key: str) -> list:
    if key == "mechanism.kind":
        return registry.kinds()
    unit = unit_label(_field(key))
    if unit in PLAUSIBLE:
        return PLAUSIBLE[unit]
    if " | " in unit:  # a literal: its options
        return unit.split(" | ")
    return ["x", 1]


@st.composite
def configs(draw) -> dict:
    data = json.loads(json.dumps(BASE))
    data["mechanism"] = {"kind": draw(st.sampled_from([*registry.kinds(), "carrier_pigeon"]))}
    if draw(st.booleans()):
        data["failures"] = [{"kind": draw(st.sampled_from(["node_crash", "receiver_outage"])), "at": "1s", "duration": "1s"}]
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4)):
        valid = draw(st.integers(0, 3)) > 0  # mostly plausible values, so runs happen
        value = draw(st.sampled_from(_plausible(key) if valid else IMPLAUSIBLE))
        try:
            set_dotted(data, key.replace(".N.", ".0."), value)
        except KeyPathError:
            pass  # failures.0.* without a [[failures]] entry
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(configs())
def test_sim_run_exits_0_or_2_never_a_traceback(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    config = folder / "c.toml"
    config.write_text(tomli_w.dumps(data), encoding="utf-8")
    out = folder / "out"
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--quiet", "--no-figures"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.output.startswith("error: "), result.output
        return
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    books = metrics["deliveries.delivered"] + metrics["deliveries.lost"] + metrics["deliveries.pending"]
    assert books == metrics["deliveries.owed"]
