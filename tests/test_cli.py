"""The command line: bad input exits 2 with one-line errors; `sim run` writes its folder."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import registry

QUICK = """
[experiment]
name = "cli"
duration = "20s"
warmup = "2s"
[clients]
count = 20
connect_over = "1s"
[mechanism]
interval = "1s"
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_clean_error(result, *expected: str) -> None:
    """Exit 2, every output line an ``error:`` line, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines), lines
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output


@pytest.mark.parametrize(
    "text, overrides, expected",
    [
        ("[experiment]\nduration = \n", [], ["line 2, column 12: invalid TOML"]),
        ("[clients]\ncount = -5\n", [], ["clients.count: must be >= 1, got -5"]),
        ("[mechanism]\nintervall = 5\n", [], ["mechanism.intervall: unknown key; did you mean 'interval'?"]),
        ("[network]\nlatency = \"5 parsecs\"\n", [], ["network.latency: unknown unit 'parsecs'"]),
        ("", ["clients.cnt=3"], ["error: --set: clients.cnt: unknown key; did you mean 'clients.count'?"]),
        ("", ["nonsense"], ["expected KEY=VALUE"]),
        ("", ["failures.0.at=1m"], ["failures.0: no such entry"]),
        ("[[failures]]\nkind = \"node_crash\"\nnode = 4\nat = \"10s\"\n", [], ["failures.0.node: node 4 does not exist"]),
        ("[[failures]]\nkind = \"receiver_outage\"\nat = \"10s\"\n", [], ["receiver_outage is not supported"]),
        ("[experiment]\nduration = 0\nwarmup = \"-1s\"\n", [], ["experiment.duration: must be > 0", "experiment.warmup: must be >= 0"]),
    ],
)
def test_bad_input_exits_2_with_one_line_errors(tmp_path, text, overrides, expected) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    args = ["run", str(path), "--quiet", "--out", str(tmp_path / "out")]
    for item in overrides:
        args += ["--set", item]
    assert_clean_error(invoke(*args), *expected)
    assert not (tmp_path / "out").exists()  # nothing half-done


def test_missing_config_file(tmp_path) -> None:
    assert_clean_error(invoke("run", str(tmp_path / "nope.toml"), "--quiet"), "nope.toml: no such file")


def test_usage_errors_exit_2() -> None:
    assert invoke("run").exit_code == 2
    assert invoke("run", "x.toml", "--bogus").exit_code == 2


def test_run_writes_its_folder(tmp_path) -> None:
    config = tmp_path / "quick.toml"
    config.write_text(QUICK)
    out = tmp_path / "out"
    result = invoke("run", str(config), "--out", str(out), "--set", "workload.rate=0.5")
    assert result.exit_code == 0, result.output
    for name in ("summary.json", "config.toml", "timeseries.csv", "latency_cdf.png", "timeseries.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"metrics", "config", "run"}
    m = summary["metrics"]
    assert m["deliveries.owed"] == m["deliveries.delivered"] + m["deliveries.lost"] + m["deliveries.pending"]
    assert summary["config"]["workload"]["rate"] == 0.5  # the override is in the resolved config
    # the resolved config runs as it is, to the same metrics
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert resolved["clients"]["count"] == 20
    again = invoke("run", str(out / "config.toml"), "--out", str(tmp_path / "again"), "--quiet", "--no-figures")
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["metrics"] == m
    rows = (out / "timeseries.csv").read_text().splitlines()
    assert rows[0].startswith("time,") and len(rows) == 1 + 22  # one row per second of 22 s
    assert "latency" in result.output  # the summary table


def test_mechanisms_lists_every_registered_kind() -> None:
    result = invoke("mechanisms")
    assert result.exit_code == 0
    for kind in registry.kinds():
        assert kind in result.output
        for key in registry.get(kind).Params.model_fields:
            assert key in result.output
    assert "backoff" in result.output


def test_real_process_prints_no_traceback(tmp_path) -> None:
    # The installed entry point, not CliRunner: what a user's shell sees.
    path = tmp_path / "bad.toml"
    path.write_text("[clients]\ncount = 0\n[network]\nbandwidth = \"fast\"\n")
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(path), "--quiet"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {path}: clients.count: must be >= 1, got 0",
        f"error: {path}: network.bandwidth: expected a link rate such as '100Mbps', got 'fast'",
    ]


def test_unwritable_out_fails_before_running(tmp_path) -> None:
    config = tmp_path / "quick.toml"
    config.write_text(QUICK)
    blocker = tmp_path / "file"
    blocker.write_text("")
    # a folder inside a regular file cannot be created: refused up front, exit 2
    assert_clean_error(invoke("run", str(config), "--quiet", "--out", str(blocker / "sub")), "--out", "cannot create")
