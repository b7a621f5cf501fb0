"""Dependable sweeps: interrupt then resume, failing runs, refusing to overwrite."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import simulator
from models.base import Mechanism
from simulator.cli import main
from simulator.config import registry

# Runs of a few tenths of a second, so that a kill lands in the middle of the sweep.
SLOW = """
[experiment]
name = "slow"
seed = 11
duration = "10s"
warmup = "1s"

[clients]
count = 1500
connect_over = "1s"

[mechanism]
kind = "short_polling"
interval = "1s"

[sweep]
replications = 2
[sweep.grid]
"clients.count" = [1500, 2000, 2500]
"mechanism.kind" = ["short_polling", "long_polling"]
"""

TINY = """
[experiment]
name = "tiny"
seed = 5
duration = "4s"
warmup = "1s"

[clients]
count = 10
connect_over = "1s"

[sweep]
replications = 2
[sweep.grid]
"clients.count" = [10, 30, 50]
"""


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


def records(folder: Path) -> list[Path]:
    return sorted(folder.glob("points/*/rep-*.json"))


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator.cli", "sweep", *args]


def wait_for_records(folder: Path, proc: subprocess.Popen, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(records(folder)) < n:
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def test_interrupt_then_resume_gives_exactly_the_full_set(tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text(SLOW)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common = ["--workers", "1", "--quiet", "--no-figures", "--out", str(out)]

    # 1. SIGTERM (like Ctrl-C): recorded runs kept, status "interrupted", exit 130.
    proc = subprocess.Popen(sweep_cmd(str(config), *common), env=env, stderr=subprocess.PIPE, text=True)
    wait_for_records(out, proc, 2)
    # meanwhile, a second writer is refused (the folder is locked by the first)
    second_writer = CliRunner().invoke(main, ["sweep", str(config), *common, "--resume"])
    assert second_writer.exit_code == 2 and f"pid {proc.pid}" in second_writer.output
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    hint = err.strip().splitlines()[-1].split("finish with: ")[1]
    assert hint == f"sim sweep --resume {out}"  # the stored invocation is enough
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    first = len(records(out))
    assert 2 <= first < 12
    assert len(rows(out)) == first  # the tables were refreshed on the way out

    # 2. SIGKILL during the resumed sweep: no clean-up at all, files still whole.
    proc = subprocess.Popen(sweep_cmd(str(config), *common, "--resume"), env=env)
    wait_for_records(out, proc, first + 1)
    proc.kill()
    proc.wait(timeout=30)
    json.loads((out / "manifest.json").read_text())  # parses: written atomically
    second = len(records(out))
    assert len(rows(out)) <= second  # tables may lag the records, never lead or duplicate
    before = {p: p.read_bytes() for p in records(out)}

    # 3. Resume to the end with the hint's command: only the missing runs run; every (point, replication) once.
    done = subprocess.run(sweep_cmd(*hint.split()[2:], "--quiet", "--no-figures"), env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path, content in before.items():
        assert path.read_bytes() == content  # finished runs were not re-run
    got = rows(out)
    assert len(got) == 12
    assert len({(r["point"], r["replication"]) for r in got}) == 12
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"

    # 4. ... and the same rows, to the last digit, as an uninterrupted sweep.
    reference = simulator.sweep(config, workers=1)
    assert [(r["point"], int(r["replication"]), float(r["latency.mean"]), int(r["deliveries.owed"])) for r in got] == [
        (r["point"], r["replication"], r["latency.mean"], r["deliveries.owed"]) for r in reference
    ]


def test_existing_folder_is_refused_without_resume_or_force(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["sweep", str(config), "--workers", "1", "--quiet", "--no-figures", "--out", str(out)]
    assert runner.invoke(main, args).exit_code == 0
    again = runner.invoke(main, args)
    assert again.exit_code == 2
    assert "--resume" in again.output and "--force" in again.output
    resumed = runner.invoke(main, [*args, "--resume"])
    assert resumed.exit_code == 0 and len(rows(out)) == 6
    forced = runner.invoke(main, [*args, "--force", "--set", "clients.count=10,20"])
    assert forced.exit_code == 0 and len(rows(out)) == 4
    changed = runner.invoke(main, [*args, "--resume", "--set", "workload.rate=1.0"])
    assert changed.exit_code == 2 and "config differs" in changed.output


class _Failing(Mechanism):
    """A mechanism that raises at 30 clients (to check failures are recorded)."""

    kind = "test_failing"
    summary = "raises at 30 clients"
    units: dict = {}
    fail = True

    def __init__(self, sim):
        super().__init__(sim)
        base = registry.get("short_polling")
        self.Params = base.Params
        self.inner = base(sim)
        self.clients = sim.clients

    def start(self):
        if _Failing.fail and self.clients == 30:
            raise RuntimeError("boom at 30 clients")
        self.inner.start()

    def pending(self):
        return self.inner.pending()


@pytest.fixture
def failing_kind():
    _Failing.Params = registry.get("short_polling").Params
    registry.register(_Failing)
    _Failing.fail = True
    yield
    registry._MECHANISMS.pop("test_failing", None)


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path, failing_kind):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    args = ["sweep", str(config), "--set", "mechanism.kind=test_failing", "--workers", "1",
            "--quiet", "--no-figures", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "boom at 30 clients" in result.output
    got = rows(out)
    assert len(got) == 6
    failed = [r for r in got if r["status"] == "error"]
    assert {r["clients.count"] for r in failed} == {"30"} and len(failed) == 2
    assert all("boom" in r["error"] and r["latency.mean"] == "" for r in failed)
    manifest = json.loads((out / "manifest.json").read_text())
    status = {p["values"]["clients.count"]: p["status"] for p in manifest["points"]}
    assert status == {10: "ok", 30: "failed", 50: "ok"}
    assert manifest["status"] == "failed" and manifest["counts"]["runs_failed"] == 2
    from simulator.output.report import write_report

    md, _ = write_report(out, draw=False)
    assert "## Failed runs" in md.read_text() and "boom at 30 clients" in md.read_text()
    # once the cause is fixed, --resume re-runs just the failed runs
    _Failing.fail = False
    before = {p: p.read_bytes() for p in records(out) if "boom" not in p.read_text()}
    again = CliRunner().invoke(main, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert all(p.read_bytes() == c for p, c in before.items())
    assert {r["status"] for r in rows(out)} == {"ok"} and len(rows(out)) == 6


def test_sweep_command_prints_the_table_and_folder(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(config), "--workers", "2", "--no-figures", "--out", str(out),
                                       "--set", "mechanism.kind=short_polling,sse"])
    assert result.exit_code == 0, result.output
    assert "mean ± 95 % CI over 2 replications" in result.output
    assert f"results: {out}" in result.output.replace("\n", "")
    assert len(rows(out)) == 12


def test_resume_after_a_code_change_warns_and_keeps_both_versions(tmp_path, monkeypatch):
    import simulator.workflow.store as store

    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    simulator.sweep(config, grid={"clients.count": [10]}, workers=1, out=out)
    before = json.loads((out / "manifest.json").read_text())["code"]
    assert before == [store.code_fingerprint()]
    monkeypatch.setattr(store, "code_fingerprint", lambda: "edited-model")
    with pytest.warns(UserWarning, match="code changed"):
        simulator.sweep(config, grid={"clients.count": [10]}, workers=1, out=out, resume=True)
    assert json.loads((out / "manifest.json").read_text())["code"] == [*before, "edited-model"]
