"""`sim plan` on the command line: rows written as answered, --resume, Ctrl-C, tables, bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from simulator.cli import main
from simulator.output.tables import Column, print_table


def _plan(*args, env=None):
    return CliRunner().invoke(main, ["plan", *map(str, args), "--workers", "1"], env=env or {"COLUMNS": "80"})


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rows_written_resumed_and_refused_when_the_plan_differs(cfg, tmp_path, runs):
    out = tmp_path / "plan"
    args = [cfg, "--clients", "30,100", "--slo", "latency.p99<=2s", "--out", out]
    res = _plan(*args)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out / "plan.csv").open()))
    assert [(r["mechanism"], r["clients"], r["nodes"]) for r in rows] == [("short_polling", "30", "1"),
                                                                        ("short_polling", "100", "3")]
    assert rows[1]["binding"].startswith("connections") and float(rows[1]["connections.refused"]) == 0
    assert (out / "configs" / "short_polling-100.toml").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["runs"]) == sum(runs) == 3
    before = _snapshot(out)
    # resuming a finished plan runs nothing
    res = _plan(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert sum(runs) == 3
    assert (out / "plan.csv").read_bytes() == before[next(p for p in before if p.name == "plan.csv")]
    # another SLO, config or --allow-loss: refused, nothing changed
    for extra in (["--slo", "latency.p99<=3s"], ["--set", "server.workers=2"], ["--allow-loss"]):
        snap = _snapshot(out)
        res = _plan(*args, "--resume", *extra)
        assert res.exit_code == 2 and "nothing changed" in res.output, res.output
        assert _snapshot(out) == snap
    # an existing plan without --resume: refused, nothing changed
    res = _plan(*args)
    assert res.exit_code == 2 and "--resume" in res.output
    assert _snapshot(out) == snap
    # a manifest that is not a plan's: one line, nothing changed
    (out / "manifest.json").write_text("[]")
    snap = _snapshot(out)
    res = _plan(*args, "--resume")
    assert res.exit_code == 2 and "cannot resume" in res.output and "Traceback" not in res.output
    assert _snapshot(out) == snap


def test_ctrl_c_keeps_finished_rows_and_resume_finishes(cfg, tmp_path, interrupt_second_round):
    out = tmp_path / "plan"
    args = [cfg, "--clients", "30,100", "--slo", "latency.p99<=2s", "--out", out]
    res = _plan(*args)
    # round 1 answered 30 clients (1 node) and ran 100 clients on 3 nodes; round 2 was cut
    assert res.exit_code == 130
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: 1/2 rows") and "--resume" in lines[0]
    rows = list(csv.DictReader((out / "plan.csv").open()))
    assert [r["clients"] for r in rows] == ["30"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    sent = interrupt_second_round()
    res = _plan(*args, "--resume")
    assert res.exit_code == 0, res.output
    assert sent == [1]  # only 100 clients on 2 nodes was left
    rows = list(csv.DictReader((out / "plan.csv").open()))
    assert [(r["clients"], r["nodes"]) for r in rows] == [("30", "1"), ("100", "3")]


def test_table_fits_80_columns_with_units_and_monthly_cost(cfg):
    res = _plan(cfg, "--clients", "100", "--slo", "latency.p99<=2s", "--slo", "server.cpu_utilization<=70%",
                "--mechanisms", "short_polling,long_polling")
    assert res.exit_code == 0, res.output
    out = res.output
    assert max(len(line) for line in out.splitlines()) <= 80
    for whole in ("short_polling", "long_polling", "$/hour", "$/month", "connections", "binding"):
        assert whole in out
    assert "%" in out and (" ms" in out or " s " in out)  # CPU in percent, latency with its unit
    assert "cheapest for 100 clients:" in out


def test_print_table_splits_whole_columns_and_repeats_keys():
    columns = [Column("mechanism", "left", key=True), Column("clients", key=True)]
    columns += [Column(f"metric number {i}") for i in range(8)] + [Column("note", "left")]
    rows = [["short_polling", "20,000", *[f"{i}.25 ms" for i in range(8)], "a note in several words"]]
    buf = io.StringIO()
    print_table(Console(file=buf, width=60), "t", columns, rows)
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60
    assert text.count("short_polling") >= 2  # the key column is in every part
    for cell in rows[0][2:-1]:
        assert cell in text  # never folded mid-word
    assert "several" in text and "shor" not in text.replace("short_polling", "")


def test_progress_shows_an_eta(cfg, monkeypatch):
    from simulator.cli import plan as cli_module

    buf = io.StringIO()
    monkeypatch.setattr(cli_module, "err_console", Console(file=buf, force_terminal=True, width=120))
    res = _plan(cfg, "--clients", "100", "--slo", "latency.p99<=2s")
    assert res.exit_code == 0, res.output
    assert "ETA" in buf.getvalue() and "runs" in buf.getvalue()


def test_warns_once_when_a_mechanism_cannot_serve_the_clients(cfg):
    res = CliRunner().invoke(
        main, ["plan", str(cfg), "--clients", "30", "--slo", "latency.p99<=2s", "--mechanisms",
               "short_polling,webhook", "--workers", "1"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "webhook" in warnings[0] and "browser" in warnings[0]
    assert "cheapest for 30 clients: short_polling" in res.stdout
    assert "not applicable" in res.stdout


@pytest.mark.parametrize("slo, message", [
    ("latency.p99<=nan", "finite"),
    ("server.cpu_utilization<=70", "70%"),
    ("latency.p99<=5%", "not a fraction"),
])
def test_bad_slo_is_exit_2_before_any_run(cfg, slo, message, runs):
    res = _plan(cfg, "--clients", "30", "--slo", slo)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert runs == []


def test_plan_stdout_does_not_depend_on_the_hash_seed(cfg):
    """Output must not depend on PYTHONHASHSEED (issue 20: a note once joined a frozenset)."""
    import os
    import subprocess
    import sys

    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "COLUMNS": "100"}
        res = subprocess.run(
            [sys.executable, "-m", "simulator.cli", "plan", str(cfg), "--clients", "30", "--slo",
             "latency.p99<=2s", "--mechanisms", "webhook,platform_push", "--workers", "1",
             "--set", "clients.kind=mobile"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )
        assert res.returncode in (0, 1), res.stderr
        outs.append(res.stdout)
    assert outs[0] == outs[1]
    assert "not applicable" in outs[0]
