"""`simulator.plan(..., out=DIR, resume=True)`: the folder `sim plan --out` writes, from Python, and resumed."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import main
from simulator.config import ConfigError

SLOS = ["latency.p99<=2s"]




def _rows(folder):
    return list(csv.DictReader((folder / "plan.csv").open()))


def test_python_plan_writes_the_folder_and_resumes_it(cfg, tmp_path, runs):
    out = tmp_path / "plan"
    rows = simulator.plan(cfg, clients=[30, 100], slos=SLOS, out=out)
    assert [(r.clients, r.nodes) for r in rows] == [(30, 1), (100, 3)]
    written = _rows(out)
    assert [(r["clients"], r["nodes"], r["binding"]) for r in written] == [
        (str(r.clients), str(r.nodes), r.binding) for r in rows]
    assert sorted(p.name for p in (out / "configs").iterdir()) == ["short_polling-100.toml", "short_polling-30.toml"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["rows_done"] == manifest["rows_total"] == 2
    assert len(manifest["runs"]) == sum(runs)  # every simulation made is kept for a resume
    # from a file, the manifest names the equivalent sim plan command
    assert manifest["invocation"]["resume_command"].startswith(f"sim plan {cfg} --clients 30,100")
    made = sum(runs)
    before = (out / "plan.csv").read_bytes()
    again = simulator.plan(cfg, clients=[30, 100], slos=SLOS, out=out, resume=True)
    assert sum(runs) == made  # a finished plan resumed runs nothing
    assert [r.state() for r in again] == [r.state() for r in rows]
    assert (out / "plan.csv").read_bytes() == before
    # sim plan --resume continues the folder Python wrote: nothing to run, the same plan.csv
    res = CliRunner().invoke(main, ["plan", str(cfg), "--clients", "30,100", "--slo", SLOS[0], "--out", str(out),
                                    "--resume", "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert sum(runs) == made and (out / "plan.csv").read_bytes() == before


def test_an_interrupted_python_plan_keeps_its_rows_and_resumes(cfg, tmp_path, interrupt_second_round):
    out = tmp_path / "plan"
    with pytest.raises(KeyboardInterrupt):
        simulator.plan(cfg, clients=[30, 100], slos=SLOS, out=out)
    # round 1 answered 30 clients (1 node passes, the least there is) and ran 100 clients on 3 nodes
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert [r["clients"] for r in _rows(out)] == ["30"]
    sent = interrupt_second_round()
    rows = simulator.plan(cfg, clients=[30, 100], slos=SLOS, out=out, resume=True)
    assert sent == [1]  # only 100 clients on 2 nodes was left
    assert [(r.clients, r.nodes) for r in rows] == [(30, 1), (100, 3)]
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_a_plan_of_loaded_data_names_the_python_call(tmp_path, cfg):
    data = simulator.load_config(cfg).to_dict()
    out = tmp_path / "plan"
    (row,) = simulator.plan(data, clients=[30], slos=SLOS, out=out)
    invocation = json.loads((out / "manifest.json").read_text())["invocation"]
    assert invocation["resume_command"].startswith("simulator.plan(") and invocation["resume_command"].endswith(
        "resume=True)")
    assert row.nodes == 1 and _rows(out)[0]["nodes"] == "1"


def test_bad_folders_and_arguments_are_refused_untouched(cfg, tmp_path):
    with pytest.raises(ConfigError, match="resume=True needs out"):
        simulator.plan(cfg, clients=[30], slos=SLOS, resume=True)
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        simulator.plan(cfg, clients=[30], slos=SLOS, out=full)
    assert [p.name for p in full.iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="unknown metric"):
        simulator.plan(cfg, clients=[30], slos=["latency.p999<=2s"], out=tmp_path / "new")
    with pytest.raises(ConfigError, match="only with a config path"):
        simulator.plan(simulator.load_config(cfg), clients=[30], slos=SLOS, overrides=["server.workers=2"])
