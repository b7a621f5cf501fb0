"""Every experiment users copy is valid, and the quickstart runs as the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator import load_config
from simulator.cli import main
from simulator.config import registry

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.toml"))


def test_there_are_experiments():
    names = {p.stem for p in EXPERIMENTS}
    assert {"quickstart", "compare_mechanisms", "reconnect_storm", "webhook_outage", "idle_timeouts"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_loads_for_every_kind_it_sweeps(path: Path):
    config = load_config(path)
    kinds = config.sweep.grid.get("mechanism.kind", [config.mechanism.kind])
    for kind in kinds:
        if kind in registry.kinds():
            assert load_config(path, {"mechanism.kind": kind}).mechanism.kind == kind


def test_quickstart_runs_end_to_end(tmp_path: Path):
    out = tmp_path / "qs"
    result = CliRunner().invoke(main, ["run", "experiments/quickstart.toml", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    # 1,000 clients polling every 5 s: 200 requests/s exactly (every poll in the window counts)
    assert m["requests.per_second"] == pytest.approx(200.0, rel=1e-3)
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    for name in ("config.toml", "timeseries.csv", "latency_cdf.png", "timeseries.png"):
        assert (out / name).stat().st_size > 0


def test_a_mechanism_comparison_config_runs_each_kind_with_its_own_keys(tmp_path: Path):
    config = load_config("experiments/compare_mechanisms.toml", {"mechanism.kind": "long_polling"})
    assert set(config.mechanism.params.model_dump()) == {"hold", "rerequest_delay"}
    # a key that no swept kind has is still an error
    with pytest.raises(Exception, match="unknown key"):
        load_config("experiments/compare_mechanisms.toml", {"mechanism.holdd": "3s"})
