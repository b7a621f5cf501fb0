"""What tables, figures and notes show a user (issue 8 items 9, 10, 12, 13 and 15)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from rich.console import Console  # noqa: E402

import simulator.cli  # noqa: E402
from simulator.cli import main  # noqa: E402
from simulator.output.catalogue import CATALOGUE, KEY_METRICS, table_metrics  # noqa: E402
from tests.conftest import run_metrics  # noqa: E402

#: 5 or 20 SSE clients on a node that takes 10 connections: at 20, 10 are refused and retry.
CROWDED = """
[experiment]
name = "crowded"
seed = 3
duration = "6s"
warmup = "1s"
[clients]
count = 5
connect_over = "1s"
[mechanism]
kind = "sse"
[server]
max_connections = 10
"""


@pytest.fixture(scope="module")
def crowded_sweep(tmp_path_factory):
    """A two-point sweep through the CLI, its table printed 400 columns wide."""
    root = tmp_path_factory.mktemp("crowded")
    config = root / "c.toml"
    config.write_text(CROWDED)
    out = root / "sweep"
    wide = Console(width=400, record=True)
    saved, simulator.cli.console = simulator.cli.console, wide
    try:
        result = CliRunner().invoke(main, ["sweep", str(config), "--set", "clients.count=5,20", "--replications",
                                           "1", "--workers", "1", "--out", str(out), "--no-figures"])
    finally:
        simulator.cli.console = saved
    assert result.exit_code == 0, result.output
    return out, wide.export_text()


# -- item 9: trouble and the monthly bill in the key-metric tables ------------------------------


def test_cost_per_month_is_730_hours_of_the_hourly_cost():
    metrics = run_metrics({"experiment.duration": "20s", "clients.count": 5})
    assert metrics["cost.per_month"] == pytest.approx(metrics["cost.per_hour"] * 730, rel=1e-12)
    assert metrics["cost.per_month"] > metrics["cost.total"] > 0


def test_trouble_columns_appear_only_when_not_zero_everywhere():
    calm = {name: 0.0 for name in CATALOGUE}
    assert table_metrics([calm]) == KEY_METRICS
    assert "cost.per_month" in KEY_METRICS and "cost.total" in KEY_METRICS
    stormy = {**calm, "connections.refused": 12.0, "reconnects.peak_rate": float("nan")}
    shown = table_metrics([calm, stormy])
    assert "connections.refused" in shown and "reconnects.peak_rate" not in shown
    assert shown.index("connections.refused") < shown.index("cost.total")  # catalogue order


def test_sweep_table_and_report_show_refusals_and_cost_per_month(crowded_sweep):
    out, table = crowded_sweep
    header = next(line for line in table.splitlines() if "latency p99" in line)
    for label in ("connections refused", "cost per month (730 h)", "cost of the measured window", "latency p99"):
        assert label in header, header
    assert "duplicate deliveries" not in header  # 0 everywhere: left out
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0
    md = (out / "report.md").read_text()
    key_table = md.split("## Key metrics", 1)[1].split("##", 1)[0]
    assert "connections refused" in key_table and "cost per month (730 h)" in key_table
    assert "duplicate deliveries" not in key_table
