"""The mobile battery figure: energy and $/month against the notification rate, per mechanism."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import ConfigError
from simulator.output.mobile_figures import battery_figure, main
from simulator.workflow.grid import make_plan
from simulator.workflow.sweep import run_sweep

CONFIG = """
[experiment]
name = "battery"
duration = "20s"
warmup = "5s"
[clients]
count = 4
kind = "mobile"
[clients.radio]
kind = "lte"
[mechanism]
kind = "sse"
[workload]
rate = 0.1
[sweep]
replications = 1
[sweep.grid]
"workload.rate" = [0.05, 0.2]
"mechanism.kind" = ["sse", "platform_push"]
"""


def test_battery_figure_from_a_rate_by_mechanism_sweep(tmp_path: Path):
    path = tmp_path / "battery.toml"
    path.write_text(CONFIG)
    run_sweep(make_plan(str(path)), tmp_path / "out", workers=1)
    png = battery_figure(tmp_path / "out", tmp_path / "battery.png")
    assert png.stat().st_size > 10_000
    assert main([str(tmp_path / "out")]) == 2  # usage


def test_battery_figure_needs_both_axes(tmp_path: Path):
    path = tmp_path / "one.toml"
    path.write_text(CONFIG.replace('"workload.rate" = [0.05, 0.2]\n', ""))
    run_sweep(make_plan(str(path)), tmp_path / "out", workers=1)
    with pytest.raises(ConfigError, match="workload.rate"):
        battery_figure(tmp_path / "out", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
