"""Fault injection: results never mix or vanish, bad states end in one line (issue 9).

Each test injects one fault (an emptied manifest, a differing --resume, a
full disk, a read-only folder, Ctrl-C, a killed Dask worker, a lost
scheduler, a SIGKILLed parent) and checks what is left on disk and what the
user is told.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from click.testing import CliRunner

from simulator.cli import main

# 2 points x 2 replications of a few clients for a few simulated seconds: each run ~0.05 s.
TINY = """
[experiment]
name = "tiny"
seed = 5
duration = "3s"
warmup = "1s"

[clients]
count = 10
connect_over = "1s"

[sweep]
replications = 2
[sweep.grid]
"clients.count" = [10, 20]
"""

QUIET = ["--workers", "1", "--quiet", "--no-figures"]


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def sim(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


# -- 1. --resume never mixes runs of two configs -------------------------------


def test_resume_with_an_emptied_manifest_refuses_runs_of_another_config(tiny, tmp_path):
    out = tmp_path / "out"
    assert sim("sweep", tiny, *QUIET, "--out", out).exit_code == 0
    (out / "manifest.json").write_text("")  # emptied (the red-team repro)
    next(out.glob("points/*/rep-001.json")).unlink()  # one run still to do
    before = snapshot(out)
    # same grid, same seeds (server.* does not enter the seed), another config
    mixed = sim("sweep", tiny, *QUIET, "--out", out, "--resume", "--set", "server.nodes=2")
    assert mixed.exit_code == 2
    assert len(error_lines(mixed)) == 1 and "another config" in mixed.output
    assert f"sim sweep --resume {out}" in mixed.output
    assert snapshot(out) == before  # nothing changed
    # the command it names resumes the sweep with its own config: 4 runs, one config
    done = sim("sweep", "--resume", out, "--quiet", "--no-figures")
    assert done.exit_code == 0, done.output
    assert len(rows(out)) == 4
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


# -- 2. the invocation is stored; a differing --resume refuses; --force keeps ----


def test_resume_dir_alone_uses_the_stored_invocation(tiny, tmp_path):
    out = tmp_path / "out"
    first = sim("sweep", tiny, *QUIET, "--out", out, "--set", "clients.count=10,30,50", "--replications", "1")
    assert first.exit_code == 0, first.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["invocation"]["set"] == ["clients.count=10,30,50"]
    assert manifest["invocation"]["replications"] == 1
    lost = next(out.glob("points/*/rep-000.json"))
    kept = lost.read_bytes()
    lost.unlink()
    again = sim("sweep", "--resume", out, "--quiet", "--no-figures")
    assert again.exit_code == 0, again.output
    assert sorted(int(r["clients.count"]) for r in rows(out)) == [10, 30, 50]
    rerun = json.loads(lost.read_text())
    assert rerun["metrics"] == json.loads(kept)["metrics"]  # the very same run again


def test_resume_dir_after_the_config_was_edited_uses_the_folders_copy(tiny, tmp_path):
    out = tmp_path / "out"
    assert sim("sweep", tiny, *QUIET, "--out", out).exit_code == 0
    tiny.write_text(TINY.replace("seed = 5", "seed = 6"))  # edited after the sweep started
    lost = next(out.glob("points/*/rep-000.json"))
    kept = json.loads(lost.read_text())
    lost.unlink()
    again = sim("sweep", "--resume", out, "--quiet", "--no-figures")
    assert again.exit_code == 0, again.output
    assert again.output.startswith(f"warning: {tiny} no longer gives this sweep")
    assert json.loads(lost.read_text())["metrics"] == kept["metrics"]


def test_resume_with_another_grid_refuses_and_names_the_command(tiny, tmp_path):
    out = tmp_path / "out"
    assert sim("sweep", tiny, *QUIET, "--out", out, "--set", "clients.count=10,20,30").exit_code == 0
    before = snapshot(out)
    for partial in (["--set", "clients.count=10"], ["--replications", "3"], []):
        refused = sim("sweep", tiny, *QUIET, "--out", out, "--resume", *partial)
        assert refused.exit_code == 2, (partial, refused.output)
        assert len(error_lines(refused)) == 1
        assert f"resume it with: sim sweep --resume {out}" in refused.output
        assert snapshot(out) == before
    assert sim("sweep", "--resume", out, "--quiet", "--no-figures").exit_code == 0
    assert len(rows(out)) == 6


def test_force_moves_the_old_results_aside(tiny, tmp_path):
    out = tmp_path / "out"
    assert sim("sweep", tiny, *QUIET, "--out", out).exit_code == 0
    old_rows = (out / "runs.csv").read_bytes()
    forced = sim("sweep", tiny, *QUIET, "--out", out, "--force", "--set", "clients.count=40")
    assert forced.exit_code == 0, forced.output
    (aside,) = out.glob(".old-*")
    assert (aside / "runs.csv").read_bytes() == old_rows
    assert len(list(aside.glob("points/*/rep-*.json"))) == 4
    assert len(rows(out)) == 2


# -- 3. sim run --out refuses a folder that is not an earlier run of it --------


def test_run_refuses_a_non_empty_folder_and_force_keeps_the_old_files(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.toml").write_text("# hand-commented\n")
    refused = sim("run", tiny, "--out", out, "--quiet", "--no-figures")
    assert refused.exit_code == 2 and len(error_lines(refused)) == 1 and "--force" in refused.output
    assert snapshot(out) == {"config.toml": b"# hand-commented\n"}
    # an earlier run of the same command may be rewritten; another config may not
    run_dir = tmp_path / "run"
    assert sim("run", tiny, "--out", run_dir, "--quiet", "--no-figures").exit_code == 0
    assert sim("run", tiny, "--out", run_dir, "--quiet", "--no-figures").exit_code == 0
    other = sim("run", tiny, "--out", run_dir, "--quiet", "--no-figures", "--set", "clients.count=11")
    assert other.exit_code == 2 and "another config" in other.output
    # a file no run writes (a log redirected there) is no reason to refuse, and stays as it was
    logged = tmp_path / "logged"
    logged.mkdir()
    (logged / "err").write_text("")
    assert sim("run", tiny, "--out", logged, "--quiet", "--no-figures").exit_code == 0
    assert (logged / "err").read_text() == "" and (logged / "summary.json").exists()
    forced = sim("run", tiny, "--out", out, "--quiet", "--no-figures", "--force")
    assert forced.exit_code == 0, forced.output
    (aside,) = out.glob(".old-*")
    assert (aside / "config.toml").read_text() == "# hand-commented\n"
    assert json.loads((out / "summary.json").read_text())["metrics"]["deliveries.owed"] >= 0


# -- 4. Ctrl-C on sim run: exit 130, one line, nothing that looks like a result --


def test_ctrl_c_on_run_exits_130_and_leaves_nothing(tiny, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "simulator.cli", "run", str(tiny), "--quiet",
           "--set", "clients.count=3000", "--set", "experiment.duration=1h"]  # minutes of wall time
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("results/tiny/.*.partial")):  # staged: the run has begun
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().startswith("interrupted:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()  # not even an empty results/<name>/<timestamp>/


# -- 5. unwritable output: refused before simulating; a full disk is one line ---


def _deny_mkdir_under(monkeypatch, folder: Path) -> None:
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        if Path(path).absolute().is_relative_to(folder):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)


def _no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("simulated although the output cannot be written")

    monkeypatch.setattr("simulator.cli.run.run", refuse)
    monkeypatch.setattr("simulator.workflow.sweep.run_task", refuse)


def test_read_only_out_is_refused_before_simulating(tiny, tmp_path, monkeypatch):
    locked = tmp_path / "read-only"
    locked.mkdir()
    _deny_mkdir_under(monkeypatch, locked)
    _no_simulation(monkeypatch)
    for command in ("run", "sweep"):
        result = sim(command, tiny, "--out", locked / "out", "--quiet", "--no-figures")
        assert result.exit_code == 2, result.output
        assert error_lines(result) == [f"error: --out {locked / 'out'}: cannot create the folder: Permission denied"]
    assert list(locked.iterdir()) == []


def test_existing_read_only_out_is_refused_before_simulating(tiny, tmp_path, monkeypatch):
    locked = tmp_path / "read-only"
    locked.mkdir()
    real_open = os.open

    def open_(path, flags, *args, **kwargs):  # no new file either (the sweep's lock)
        if flags & os.O_CREAT and Path(path).absolute().is_relative_to(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    _deny_mkdir_under(monkeypatch, locked)
    monkeypatch.setattr(os, "open", open_)
    _no_simulation(monkeypatch)
    for command in ("run", "sweep"):
        result = sim(command, tiny, "--out", locked, "--quiet", "--no-figures")
        assert result.exit_code == 2, result.output
        assert error_lines(result) == [f"error: --out {locked}: cannot write there: Permission denied"]
    assert list(locked.iterdir()) == []


def _full_disk(monkeypatch, module: str, when) -> None:
    import simulator.output.atomic

    real = simulator.output.atomic.write_atomic

    def write(path, data):
        if when(Path(path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(f"{module}.write_atomic", write)


def test_full_disk_during_run_is_one_line_and_writes_nothing(tiny, tmp_path, monkeypatch):
    _full_disk(monkeypatch, "simulator.output.results", lambda p: p.name == "summary.json")
    out = tmp_path / "out"
    result = sim("run", tiny, "--out", out, "--quiet", "--no-figures")
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: --out {out}: cannot write summary.json: No space left on device;"
                                   " nothing written"]
    assert list(tmp_path.iterdir()) == [tiny]  # no folder, no staging left


def test_full_disk_during_sweep_leaves_a_manifest_that_says_so(tiny, tmp_path, monkeypatch):
    out = tmp_path / "out"
    written = []

    def third_record(path: Path) -> bool:
        if path.name.startswith("rep-"):
            written.append(path)
            return len(written) >= 3
        return False

    _full_disk(monkeypatch, "simulator.workflow.store", third_record)
    result = sim("sweep", tiny, *QUIET, "--out", out)
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "No space left on device" in result.output
    assert f"finish with: sim sweep --resume {out}" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"].startswith("failed: write error: cannot write")
    assert manifest["counts"]["runs_ok"] == 2
    assert not (out / ".sweep.lock").exists()
    monkeypatch.undo()  # space freed: the named command finishes it
    assert sim("sweep", "--resume", out, "--quiet", "--no-figures").exit_code == 0
    assert len(rows(out)) == 4


# -- 7. Dask faults -------------------------------------------------------------


@pytest.fixture
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        with distributed.Client(local) as client:
            yield local, client


def test_dask_killed_worker_is_that_runs_error(tiny, tmp_path, cluster, monkeypatch):
    from distributed.scheduler import KilledWorker

    import simulator.workflow.sweep as sweep_exec
    from simulator.workflow.grid import make_plan, run_task

    def dies_at_20(task):  # what the client sees when a task killed its workers 4 times
        if task.data["clients"]["count"] == 20 and task.replication == 1:
            lost = SimpleNamespace(address="tcp://127.0.0.1:1")
            raise KilledWorker(task="notifysim-run", last_worker=lost, allowed_failures=3)
        return run_task(task)

    monkeypatch.setattr(sweep_exec, "run_task", dies_at_20)
    outcome = sweep_exec.run_sweep(make_plan(tiny), tmp_path / "out", scheduler=cluster[1])
    assert outcome.counts["runs_ok"] == 3 and outcome.counts["runs_failed"] == 1
    (failed,) = [r for r in outcome.store.rows() if r["status"] == "error"]
    assert failed["clients.count"] == 20 and failed["replication"] == 1
    assert failed["error"].startswith("Dask worker lost: KilledWorker")


def test_dask_lost_scheduler_leaves_a_resumable_manifest(tiny, tmp_path, cluster):
    from simulator.workflow.executor import SchedulerLost
    from simulator.workflow.grid import make_plan
    from simulator.workflow.sweep import run_sweep

    local, client = cluster
    out = tmp_path / "out"

    def lose_the_cluster(state) -> None:
        if state.runs_done == 1:
            local.close()

    with pytest.raises(SchedulerLost, match="scheduler was lost"):
        run_sweep(make_plan(tiny), out, scheduler=client, progress=lose_the_cluster)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"].startswith("failed: the Dask scheduler was lost")
    assert not (out / ".sweep.lock").exists()
    resumed = sim("sweep", "--resume", out, "--quiet", "--no-figures", "--workers", "1")
    assert resumed.exit_code == 0, resumed.output
    reference = run_sweep(make_plan(tiny), workers=1).store.rows()
    assert [(r["point"], int(r["replication"]), float(r["latency.mean"])) for r in rows(out)] == [
        (r["point"], r["replication"], r["latency.mean"]) for r in reference]


def test_lost_scheduler_is_one_line_exit_1(tiny, tmp_path, monkeypatch):
    import simulator.workflow.sweep as sweep_exec
    from simulator.workflow.executor import SchedulerLost

    def lost(func, items, on_result, **kwargs):
        on_result(items[0], func(items[0]))
        raise SchedulerLost("the Dask scheduler was lost: FutureCancelledError: cancelled")

    monkeypatch.setattr(sweep_exec, "run_all", lost)
    out = tmp_path / "out"
    result = sim("sweep", tiny, *QUIET, "--out", out)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {out}: the Dask scheduler was lost: FutureCancelledError: cancelled;"
        f" the runs recorded so far are kept; finish with: sim sweep --resume {out}"]


def test_bad_scheduler_address_is_exit_2(tiny, tmp_path):
    result = sim("sweep", tiny, *QUIET, "--out", tmp_path / "out", "--scheduler", "not-an-address")
    assert result.exit_code == 2
    assert error_lines(result) == [
        "error: --scheduler not-an-address: cannot connect: missing port number in address 'not-an-address'"]
    assert not (tmp_path / "out").exists()


# -- the executor: a dead pool worker is that item's error; no orphans ----------


def _exit_on_two(x: int) -> int:
    if x == 2:
        os._exit(9)  # as if killed (out of memory)
    return x * 10


def test_pool_worker_death_is_reported_for_its_item():
    from simulator.workflow.executor import run_all

    done, lost = {}, {}
    run_all(_exit_on_two, [2, 4], done.__setitem__, workers=2, on_lost=lost.__setitem__)
    assert lost[2].startswith("worker process died")
    assert sorted([*done, *lost]) == [2, 4]  # every item accounted for once (4 may share the broken pool's fate)
    assert done.get(4, 40) == 40


ORPHAN_SCRIPT = """
import time
from simulator.workflow.executor import run_all
run_all(time.sleep, [120, 120], lambda item, value: None, workers=2)
"""


def test_pool_workers_exit_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT])
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        while len(workers := psutil.Process(parent.pid).children()) < 2:
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while alive := [w for w in workers if _running(w)]:
            assert time.monotonic() < deadline, f"orphaned workers still running: {alive}"
            time.sleep(0.02)
    finally:
        parent.kill()
        for worker in workers:
            if _running(worker):
                worker.kill()


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
