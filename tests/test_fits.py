"""Configs too large for the machine are refused up front, with an estimate (docs/design.md §8)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import main
from simulator.engine.estimate import estimate_events


@pytest.mark.parametrize("kind", ["short_polling", "long_polling", "sse", "websocket", "webhook"])
def test_event_estimate_is_within_half_of_what_a_run_takes(kind):
    config = simulator.load_config(
        "experiments/compare_mechanisms.toml",
        {"mechanism.kind": kind, "clients.count": 400, "experiment.duration": "1m", "experiment.warmup": "30s"},
    )
    events = simulator.run(config).run["events_processed"]
    assert events / 1.5 <= estimate_events(config) <= events * 1.5


def test_a_run_of_days_is_refused_with_its_estimate():
    res = CliRunner().invoke(main, ["run", "experiments/quickstart.toml", "--set", "mechanism.interval=1us"])
    assert res.exit_code == 2
    assert "experiment.duration: about" in res.output and "hours" in res.output
    assert "Traceback" not in res.output
