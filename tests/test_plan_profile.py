"""`sim plan` over a [profile]: autoscaling bounds at the trough and peak, cost from one run over the profile."""

from __future__ import annotations

import csv
import math

from click.testing import CliRunner

from simulator.cli import main
from simulator.workflow.planner import plan
from simulator.workflow.slo import failures

CLIENTS, MAX_CONNECTIONS = 40, 5
TROUGH = 0.25
DURATION_S = 60.0


def _data(profile: dict | None = None, autoscale: dict | None = None) -> dict:
    data = {
        "experiment": {"duration": f"{DURATION_S:g}s", "warmup": "10s", "seed": 1},
        "clients": {"count": CLIENTS},
        "mechanism": {"kind": "sse"},
        "server": {"max_connections": MAX_CONNECTIONS},
        "cost": {"node_hour": 0.10, "egress_gb": 0.0},  # no egress: the cost is the node-hours alone
    }
    if profile is not None:
        data["profile"] = profile
    if autoscale is not None:
        data["autoscale"] = autoscale
    return data


STEPS = {"kind": "steps", "points": [["0s", TROUGH], ["30s", 1.0]]}
FAST_POLICY = {"metric": "connections", "target": 0.5, "evaluate_every": "1s", "scale_out_cooldown": "0s",
               "scale_in_cooldown": "0s", "boot_time": "0s", "drain": "0s"}


def test_bounds_are_the_connection_floor_at_the_trough_and_the_peak():
    (row,) = plan(_data(STEPS, FAST_POLICY), [CLIENTS], [])
    # connections bind: every online client needs a slot, so ceil(online / max_connections) nodes
    assert row.min_nodes == math.ceil(TROUGH * CLIENTS / MAX_CONNECTIONS) == 2
    assert row.max_nodes == row.nodes == math.ceil(CLIENTS / MAX_CONNECTIONS) == 8
    assert row.tried[7] is False and row.binding.startswith("connections")
    # the run over the profile autoscaled between the bounds
    m = row.metrics
    assert row.config["autoscale"]["min_nodes"] == 2 and row.config["autoscale"]["max_nodes"] == 8
    assert 2 <= m["server.nodes"] <= m["server.nodes_peak"] <= 8
    # node-hours = mean nodes x measured hours; the month is that rate over 730 h (no egress cost)
    hours = DURATION_S / 3600.0
    assert math.isclose(m["server.node_hours"], m["server.nodes"] * hours, rel_tol=1e-9)
    assert math.isclose(m["cost.per_month"] - m["cost.balancer"], m["server.node_hours"] * 0.10 / hours * 730, rel_tol=1e-9)
    # a broken SLO over the profile is reported, never hidden
    broken = failures(m, [])
    assert row.profile_broke == ", ".join(broken)
    assert any("broke" in note for note in row.notes) == bool(broken)
    assert row.runs == 5  # 8 and 7 at the peak, 2 and 1 at the trough, one run over the profile


def test_no_load_at_the_trough_keeps_one_node_without_searching():
    profile = {"kind": "steps", "points": [["0s", 0.0], ["30s", 1.0]]}
    (row,) = plan(_data(profile, FAST_POLICY), [CLIENTS], [])
    assert (row.min_nodes, row.max_nodes) == (1, 8)
    assert row.runs == 3  # 8 and 7 at the peak, one run over the profile


def _toml(tmp_path, profile: bool):
    text = (f'[experiment]\nduration = "{DURATION_S:g}s"\nwarmup = "10s"\n[clients]\ncount = {CLIENTS}\n'
            f'[mechanism]\nkind = "sse"\n[server]\nmax_connections = {MAX_CONNECTIONS}\n')
    if profile:
        text += '[profile]\nkind = "steps"\npoints = [["0s", 0.25], ["30s", 1.0]]\n'
    path = tmp_path / ("profile.toml" if profile else "static.toml")
    path.write_text(text)
    return str(path)


def test_cli_columns_with_and_without_a_profile(tmp_path):
    runner = CliRunner()
    for profile in (True, False):
        out = tmp_path / f"out-{profile}"
        result = runner.invoke(main, ["plan", _toml(tmp_path, profile), "--clients", str(CLIENTS),
                                      "--slo", "latency.p99<=1h", "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        with open(out / "plan.csv") as f:
            (record,) = list(csv.DictReader(f))
        if profile:
            assert (record["min_nodes"], record["max_nodes"], record["nodes"]) == ("2", "8", "8")
            assert float(record["node_hours"]) > 0
        else:  # unchanged: one static node count, no autoscaling columns
            assert record["nodes"] == "8"
            assert not {"min_nodes", "max_nodes", "node_hours", "profile_broke"} & set(record)


def test_tune_with_a_profile_is_refused(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["plan", _toml(tmp_path, True), "--clients", "40", "--slo", "latency.p99<=1h",
                                       "--tune", "server.workers=1,2", "--out", str(out)])
    assert result.exit_code == 2
    assert "error: --tune: not supported with [profile]" in result.output
    assert not out.exists()
