"""Bad input and resource blow-ups: one line naming the file and the problem, exit 2,
nothing written (issue 9, items 6, 9, 10 and 11)."""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

import simulator
from simulator.cli import main
from simulator.config import ConfigError, load_config, validate_config
from simulator.engine.estimate import check_fits, estimate_events
from simulator.output.report import sweep_blocks, to_markdown, write_report
from simulator.workflow.grid import make_plan

TINY = """
[experiment]
name = "tiny"
duration = "3s"
warmup = "1s"
drain = "2s"

[clients]
count = 4
connect_over = "1s"
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def refused(args: list[str], out: Path | None = None) -> str:
    """Run ``sim ARGS``; assert exit 2, no traceback, one ``error:`` line, nothing written."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    if out is not None:
        assert not out.exists()
    return lines[0]


@pytest.fixture
def memory_of(monkeypatch):
    """Pretend the machine has ``GiB`` of memory available (refusals must not depend on it)."""

    def set_available(gib: float) -> None:
        monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=gib * 2**30))

    return set_available


# ---------------------------------------------------------------------------
# Item 6: resource blow-ups refused up front, with the estimate


def test_a_notification_flood_is_refused_by_its_memory(tmp_path, memory_of):
    # 100 clients x 1e6/s, each read every 5 s: 5e8 publish times held at once (~50 GB)
    memory_of(16)
    out = tmp_path / "out"
    line = refused(["run", "experiments/quickstart.toml", "--out", str(out), "--set", "workload.rate=1e6",
                    "--set", "clients.count=100", "--set", "experiment.duration=1m"], out)
    assert "workload.rate: 1e+06 notifications/s to each of 100 clients" in line and "16.0 GiB available" in line


def test_a_billion_worker_slots_are_refused_by_their_memory(tmp_path, memory_of):
    memory_of(16)
    out = tmp_path / "out"
    line = refused(["run", "experiments/quickstart.toml", "--out", str(out),
                    "--set", "server.workers=100000", "--set", "server.nodes=10000"], out)
    assert "server.workers: 100,000 workers on each of 10,000 nodes need about 29.8 GiB" in line


def test_a_nanosecond_idle_timeout_is_refused_by_its_sweeps(tiny, tmp_path):
    out = tmp_path / "out"
    line = refused(["run", str(tiny), "--out", str(out), "--set", "mechanism.kind=sse",
                    "--set", "cluster.idle_timeout=1ns"], out)
    assert "cluster.idle_timeout: about" in line and "idle sweeper" in line


def test_the_idle_sweeper_is_counted_in_the_estimate():
    # 10 ms idle timeout, no heartbeat: the sweeper wakes ~100 times a simulated second, far more
    # than the 40 clients' own events; the estimate (an upper bound: every idle_timeout/50) covers it
    config = load_config(None, {"mechanism.kind": "sse", "mechanism.heartbeat": "0s", "cluster.idle_timeout": "10ms",
                                "clients.count": 40, "clients.connect_over": "1s",
                                "experiment.duration": "5s", "experiment.warmup": "1s"})
    events = simulator.run(config).run["events_processed"]
    assert events > 6 * 100 / 2  # the sweeper ran
    assert events <= estimate_events(config) <= 60 * events


def test_a_drain_of_years_behind_a_dead_node_is_refused(tiny, tmp_path):
    tiny.write_text(TINY + '[[failures]]\nkind = "node_crash"\nat = "2s"\nduration = "1e9s"\n')
    out = tmp_path / "out"
    line = refused(["run", str(tiny), "--out", str(out), "--set", "experiment.drain=1e9s"], out)
    assert "experiment.drain: about" in line and "hours" in line


def test_an_endless_or_huge_config_file_is_refused_before_it_is_read(tmp_path):
    assert refused(["run", "/dev/zero"]) == "error: /dev/zero: is a character device, not a config file"
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    assert f"error: {big}: larger than 1 MiB" in refused(["run", str(big)])


def test_a_sweep_of_100000_points_is_refused_with_the_count(tiny, tmp_path):
    out = tmp_path / "out"
    counts = ",".join(str(n) for n in range(1, 101))
    seeds = ",".join(str(n) for n in range(1000))
    line = refused(["sweep", str(tiny), "--out", str(out), "--set", f"clients.count={counts}",
                    "--set", f"experiment.seed={seeds}"], out)
    assert "sweep.grid: 100,000 points (100 clients.count x 1000 experiment.seed)" in line


def test_no_experiment_or_its_sweep_points_is_refused(memory_of):
    memory_of(4)  # a modest laptop
    for path in sorted(glob.glob("experiments/*.toml")):
        for point in make_plan(path).points:
            check_fits(point.config, path)


# ---------------------------------------------------------------------------
# Item 9: tracebacks that are now one line


@pytest.mark.parametrize("key", ["network.latency", "server.request_cost"])
def test_a_lognormal_of_median_zero_is_a_config_error(tiny, tmp_path, key):
    out = tmp_path / "out"
    line = refused(["run", str(tiny), "--out", str(out), "--set", f'{key}={{dist="lognormal",median="0s",sigma=1}}'], out)
    assert f"{key}: median: must be > 0" in line


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else "{a = " * depth + "1" + "}" * depth


@pytest.mark.parametrize("kind", ["array", "table"])
@pytest.mark.parametrize("depth", [25, 1000, 100_000])
def test_deep_nesting_in_a_file_is_a_config_error(tmp_path, kind, depth):
    path = tmp_path / "deep.toml"
    path.write_text(f"[experiment]\ndescription = {_nested(depth, kind)}\n")
    line = refused(["run", str(path), "--out", str(tmp_path / "out")], tmp_path / "out")
    assert line.startswith(f"error: {path}: ") and "nested more than 20 levels" in line


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("kind", ["array", "table"])
def test_deep_nesting_in_set_is_a_config_error(tiny, tmp_path, command, kind):
    out = tmp_path / "out"
    line = refused([command, str(tiny), "--out", str(out), "--set", f"clients.count={_nested(1000, kind)}"], out)
    assert "--set" in line and "nested more than 20 levels" in line


def test_deep_nesting_from_the_python_api_is_a_config_error():
    data: dict = {"experiment": {}}
    node = data["experiment"]["description"] = []
    for _ in range(5000):
        node.append([])
        node = node[0]
    with pytest.raises(ConfigError, match="nested more than 20 levels"):
        validate_config(data)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_nul_byte_in_the_name_is_a_config_error(tiny, tmp_path, command):
    out = tmp_path / "out"
    line = refused([command, str(tiny), "--out", str(out), "--set", r'experiment.name="a\u0000b"'], out)
    assert "experiment.name: must be a plain folder name: no control characters" in line


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    (folder / "c.toml").write_text(TINY)
    result = CliRunner().invoke(main, ["run", str(folder / "c.toml"), "--out", str(folder / "out"), "--quiet", "--no-figures"])
    assert result.exit_code == 0, result.output
    return folder / "out"


@pytest.mark.parametrize("command", ["report", "plot"])
@pytest.mark.parametrize("name", ["summary.json", "timeseries.csv", "latency_cdf.csv"])
@pytest.mark.parametrize("content", ["garbage{", "", "[]", "{}", '{"metrics": {}, "config": {"clients": {}}}',
                                     "time,latency_seconds\n1,2,3\n", "time,latency_seconds\nx,y\n"])
def test_report_and_plot_of_a_broken_result_file_is_one_line(run_folder, tmp_path, command, name, content):
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    (folder / name).write_text(content)
    before = sorted(p.name for p in folder.iterdir())
    line = refused([command, str(folder)])
    assert line.startswith(f"error: {folder / name}: ")
    assert sorted(p.name for p in folder.iterdir()) == before  # no report, no figure half-drawn


# ---------------------------------------------------------------------------
# Item 10: values no longer guessed


@pytest.mark.parametrize("value", [1.25, 1.34, 1.0, 2.0])
def test_tls_takes_only_its_listed_versions(value):
    with pytest.raises(ConfigError, match=r"http.tls: must be 'none', '1.2' or '1.3'"):
        load_config(None, {"http.tls": value})


@pytest.mark.parametrize(("value", "version"), [(1.2, "1.2"), (1.3, "1.3"), ("1.3", "1.3"), ("none", "none")])
def test_tls_numbers_1_2_and_1_3_are_their_versions(value, version):
    assert load_config(None, {"http.tls": value}).http.tls == version


# ---------------------------------------------------------------------------
# Item 11: report.md shows config text as text


def _rendered(md: str) -> str:
    return MarkdownIt("commonmark").render(md)


def test_report_md_escapes_the_name_and_description(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(TINY.replace('name = "tiny"', 'name = "<img src=x onerror=alert(1)>"\n'
                                   'description = "one\\n# Injected heading\\n- item *bold* `code` [l](http://x) | $x$"'))
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--quiet", "--no-figures"]).exit_code == 0
    md, _ = write_report(out, draw=False)
    page = _rendered(md.read_text())
    assert "<h1>Run: &lt;img src=x onerror=alert(1)&gt;</h1>" in page
    assert "Injected" not in "".join(line for line in page.splitlines() if line.startswith("<h"))
    assert "<p>one # Injected heading - item *bold* `code` [l](http://x) | $x$</p>" in page
    assert "<img" not in page  # no figures drawn, and nothing from the config
    assert "<ul>" in page  # the file links: the only list


def test_a_swept_description_is_not_shown_as_the_sweeps(tmp_path):
    manifest = {"experiment": "s", "description": "the first point's <b>description</b>", "status": "complete",
                "axes": {"experiment.description": ["the first point's <b>description</b>", "second"]},
                "points": [], "counts": {}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    md = to_markdown(sweep_blocks(tmp_path, "png", draw=False))
    page = _rendered(md)
    assert "The description differs between points" in md
    assert "<p>the first point" not in page and "<b>" not in page
    assert "the first point's &lt;b&gt;description&lt;/b&gt;, second" in page  # in the grid table, escaped


def test_a_folder_or_an_unknown_option_is_one_line_not_clicks_four(tiny, tmp_path):
    line = refused(["run", str(tmp_path)])
    assert line.startswith("error: ") and f" run: Invalid value for 'CONFIG': File '{tmp_path}' is a directory" in line
    assert " run: No such option '--bogus'" in refused(["run", str(tiny), "--bogus"])


def test_a_config_starting_with_a_byte_order_mark_is_read(tiny, tmp_path):
    tiny.write_bytes(b"\xef\xbb\xbf" + TINY.encode("utf-8"))
    assert load_config(tiny).clients.count == 4


def _trace_config(tiny, file: str) -> None:
    tiny.write_text(TINY + f'[profile]\nkind = "trace"\napplies_to = ["rate"]\nfile = "{file}"\n', encoding="utf-8")


@pytest.mark.parametrize(("make", "problem"), [
    (lambda p: os.mkfifo(p), "is a pipe (FIFO), not a trace CSV"),
    (lambda p: p.mkdir(), "is a directory, not a trace CSV"),
    (lambda p: None, "no such file"),
])
def test_a_trace_that_is_a_fifo_a_folder_or_missing_is_refused_without_blocking(tiny, tmp_path, make, problem):
    trace = tmp_path / "trace.csv"
    make(trace)
    _trace_config(tiny, str(trace))
    out = tmp_path / "out"
    assert refused(["run", str(tiny), "--out", str(out)], out) == f"error: {tiny}: profile.file: {trace}: {problem}"


def test_a_device_as_trace_is_refused(tiny, tmp_path):
    _trace_config(tiny, "/dev/zero")
    assert refused(["run", str(tiny)]).endswith("profile.file: /dev/zero: is a character device, not a trace CSV")


def test_a_trace_over_the_row_or_size_cap_is_refused_naming_the_cap(tiny, tmp_path, monkeypatch):
    from simulator.config import profile

    trace = tmp_path / "trace.csv"
    trace.write_text("".join(f"{t},1\n" for t in range(11)), encoding="utf-8")
    _trace_config(tiny, str(trace))
    monkeypatch.setattr(profile, "MAX_TRACE_ROWS", 10)
    out = tmp_path / "out"
    assert refused(["run", str(tiny), "--out", str(out)], out).endswith("has more than 10 rows, the most a trace may have")
    monkeypatch.setattr(profile, "MAX_TRACE_BYTES", 2**20)
    trace.write_text("0,1\n" + "#" * 2**20, encoding="utf-8")
    assert refused(["run", str(tiny), "--out", str(out)], out).endswith("larger than 1 MiB (1.0 MiB), the most a trace CSV may be")


@pytest.mark.parametrize(("setting", "problem"), [
    ("experiment.duration=1e-300", "experiment.duration: a duration must be 0 or at least 1ns (the model's resolution)"),
    ("experiment.duration=1e11", "experiment.duration: a duration must be at most 1e+10s"),
    ('workload.payload="1e308B"', "workload.payload: a size must be at most 1 PiB"),
    ('workload.payload="0.5B"', "workload.payload: a size must be 0 or at least 1B"),
    ("experiment.seed=1e308", "experiment.seed: must be <= 9223372036854775807"),
    # median 5 s, sigma 10: a mean of 5 s * e^50 = 2.6e22 s, no run would see one poll
    ('mechanism.interval={dist="lognormal", median="5s", sigma=10}', "mechanism.interval: lognormal with a mean of 2.59e+22s"),
])
def test_values_beyond_the_models_range_are_refused_naming_it(tiny, tmp_path, setting, problem):
    out = tmp_path / "out"
    line = refused(["run", str(tiny), "--out", str(out), "--set", setting], out)
    assert line.startswith(f"error: --set: {problem}"), line
    assert len(line) <= 160, line


@pytest.mark.parametrize("setting", [
    "clients.count=" + "9" * 400,
    'mechanism.kind="' + "x" * 400 + '"',
    "k" * 400 + "=1",
    'network.latency="' + "1" * 400 + 'ms"',
])
def test_a_huge_echoed_value_is_cut_so_the_line_stays_short(tiny, tmp_path, setting):
    out = tmp_path / "out"
    line = refused(["run", str(tiny), "--out", str(out), "--set", setting], out)
    assert len(line) <= 200 and line.startswith("error: --set: "), line


def test_every_type_error_of_a_config_is_reported_one_line_each(tiny):
    tiny.write_text('[experiment]\nduration = "abc"\nseed = "x"\n[clients]\ncount = true\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(tiny)])
    assert result.exit_code == 2
    lines = sorted(result.output.strip().splitlines())
    assert [line.split(": ")[2] for line in lines] == ["clients.count", "experiment.duration", "experiment.seed"], lines


def test_a_run_that_delivers_nothing_has_no_latency_and_says_so(tiny, tmp_path):
    """Latency over zero deliveries is undefined: null in strict JSON, "—" in the table, one note line."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(tiny), "--out", str(out), "--no-figures",
                                       "--set", "mechanism.interval=1e6", "--set", "experiment.drain=0"])
    assert result.exit_code == 0, result.output
    text = (out / "summary.json").read_text(encoding="utf-8")
    metrics = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in summary.json"))["metrics"]
    assert metrics["deliveries.delivered"] == 0 and metrics["deliveries.owed"] > 0
    for name in ("latency.mean", "latency.p50", "latency.p99", "latency.max", "latency.p99_worst_window",
                 "cost.per_million_deliveries"):
        assert metrics[name] is None, name
    assert sum(line.startswith("note: nothing was delivered") for line in result.output.splitlines()) == 1
    assert "latency p99" in result.output and "—" in result.output
    assert CliRunner().invoke(main, ["report", str(out)]).exit_code == 0
    assert "Note: nothing was delivered" in (out / "report.md").read_text(encoding="utf-8")


def test_a_summary_with_bare_infinity_is_refused_by_report(tiny, tmp_path):
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["run", str(tiny), "--out", str(out), "--no-figures"]).exit_code == 0
    summary = out / "summary.json"
    summary.write_text(summary.read_text(encoding="utf-8").replace('"latency.max": ', '"latency.max": Infinity, "x": ', 1),
                       encoding="utf-8")
    assert refused(["report", str(out)]).endswith("the bare token Infinity is not JSON; not a run's summary (rerun `sim run`)")
