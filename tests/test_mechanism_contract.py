"""The mechanism contract (simulator/engine/mechanism.py): every kind meets it, one lookup reaches it."""

from __future__ import annotations

import pathlib
import re

import pytest

from simulator.config import registry, validate_config
from simulator.engine.mechanism import MechanismClass, RunningMechanism, mechanism_of
from simulator.engine.simulation import Simulation

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", registry.kinds())
def test_every_registered_kind_meets_the_protocol_as_class_and_as_a_run(kind):
    cls = registry.get(kind)
    assert isinstance(cls, MechanismClass)
    config = validate_config({"experiment": {"duration": "10s", "warmup": "0s"},
                              "clients": {"count": 3, "kind": sorted(cls.client_kinds)[0]},
                              "mechanism": {"kind": kind}})
    assert mechanism_of(config) is cls
    assert isinstance(cls(Simulation(config)), RunningMechanism)


def test_the_lookup_follows_the_kind_of_a_copied_config():
    config = validate_config({"mechanism": {"kind": "sse"}})
    assert mechanism_of(config).kind == "sse"
    other = config.model_copy(update={"mechanism": config.mechanism.model_copy(update={"kind": "websocket"})})
    assert mechanism_of(other).kind == "websocket" and mechanism_of(config).kind == "sse"
    assert config == validate_config({"mechanism": {"kind": "sse"}})  # the lookup leaves no state on it


def test_no_module_looks_up_a_configs_mechanism_but_through_mechanism_of():
    # registry.get(<a config>.mechanism.kind) anywhere but the one lookup would be a second path
    pattern = re.compile(r"registry\.get\([^)]*mechanism\.kind")
    offenders = [str(p.relative_to(ROOT)) for base in ("simulator", "models")
                 for p in (ROOT / base).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
