"""What tables, figures and notes show a user (issue 8 items 9, 10, 12, 13 and 15)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from rich.console import Console

import simulator.cli.workflow
import simulator.output.plotting  # the Agg backend, set in one place
from simulator.cli import main
from simulator.output.catalogue import CATALOGUE, KEY_METRICS, table_metrics
from simulator.output.report import write_report
from tests.conftest import SMALL, run_metrics

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
    """A two-point sweep through the CLI; its table printed 400, then 80 columns wide."""
    root = tmp_path_factory.mktemp("crowded")
    config = root / "c.toml"
    config.write_text(CROWDED)
    out = root / "sweep"
    tables = []
    for width, again in ((400, []), (80, ["--resume"])):  # the second only prints the table again
        console = Console(width=width, record=True)
        saved, simulator.cli.workflow.console = simulator.cli.workflow.console, console
        try:
            result = CliRunner().invoke(main, ["sweep", str(config), "--set", "clients.count=5,20", "--replications",
                                               "1", "--workers", "1", "--out", str(out), "--no-figures", *again])
        finally:
            simulator.cli.workflow.console = saved
        assert result.exit_code == 0, result.output
        tables.append(console.export_text())
    return out, *tables


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
    out, table, _ = crowded_sweep
    header = next(line for line in table.splitlines() if "latency p99" in line)
    for label in ("connections refused", "cost per month (730 h)", "cost of the measured window", "latency p99"):
        assert label in header, header
    assert "duplicate deliveries" not in header  # 0 everywhere: left out
    write_report(out, draw=False)
    md = (out / "report.md").read_text()
    key_table = md.split("## Key metrics", 1)[1].split("##", 1)[0]
    assert "connections refused" in key_table and "cost per month (730 h)" in key_table
    assert "duplicate deliveries" not in key_table


def test_sweep_table_wraps_whole_columns_at_80_columns(crowded_sweep):
    _, wide, narrow = crowded_sweep
    lines = narrow.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in narrow
    assert sum("clients.count" in line for line in lines) >= 2  # continued in a second table
    values = {cell.strip() for line in wide.splitlines() if line.startswith("│") for cell in line.split("│")}
    assert "$" in "".join(values)
    for value in values - {""}:  # every value whole, as in the wide table
        assert value in narrow, value


# -- item 10: counts from zero; a metric 0 everywhere is said, not drawn ------------------------


def _sweep_data(metric_values: dict[str, list[float]]):
    """Three client counts x two mechanisms, with the given metric values (point by point)."""
    from pathlib import Path

    from simulator.output.sweep_figures import SweepData

    axes = {"clients.count": [10, 20, 40], "mechanism.kind": ["short_polling", "sse"]}
    points = [(n, k) for k in axes["mechanism.kind"] for n in axes["clients.count"]]
    rows = []
    for i, (n, kind) in enumerate(points):
        row = {"point": f"p{i}", "clients.count": n, "mechanism.kind": kind, "replications": 2.0}
        for metric, values in metric_values.items():
            row[metric], row[f"{metric}.ci95"] = values[i], 0.01 * values[i]
        rows.append(row)
    return SweepData(Path("."), {"experiment": "synthetic"}, axes, rows)


def test_a_count_is_drawn_from_zero():
    import matplotlib.pyplot as plt

    from simulator.output.sweep_figures import draw_metric

    # 10,250 .. 12,000 lost: a 15 % spread that a tight axis would show as a 5x drop
    data = _sweep_data({"deliveries.lost": [12000, 11500, 11000, 10250, 10500, 10800],
                        "latency.mean": [1.0, 1.1, 1.2, 1.05, 1.1, 1.15]})
    fig, (lost, latency) = plt.subplots(1, 2)
    draw_metric(lost, data, data.rows, "deliveries.lost", "clients.count", "mechanism.kind")
    draw_metric(latency, data, data.rows, "latency.mean", "clients.count", "mechanism.kind")
    assert lost.get_yscale() == "linear" and lost.get_ylim()[0] == 0
    assert latency.get_ylim()[0] > 0.5  # not a count: the axis follows the data
    plt.close(fig)


def test_a_metric_zero_everywhere_is_noted_not_drawn(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    import simulator.output.sweep_figures
    from simulator.output.sweep_figures import draw_metric, overview

    data = _sweep_data({"deliveries.duplicates": [0.0] * 6, "latency.mean": [1.0, 1.1, 1.2, 1.05, 1.1, 1.15]})
    fig, ax = plt.subplots()
    draw_metric(ax, data, data.rows, "deliveries.duplicates", "clients.count", "mechanism.kind")
    assert not ax.get_lines() and not ax.collections  # no flat line on a -0.04..0.04 axis
    assert [t.get_text() for t in ax.texts] == ["duplicate deliveries: 0 at every point"]
    plt.close(fig)
    # in an overview the legend moves to the first panel that has lines
    saved = []
    monkeypatch.setattr(simulator.output.sweep_figures, "save_figure", lambda fig, path: saved.append(fig))
    overview(data, data.rows, ["deliveries.duplicates", "latency.mean"], "clients.count",
             "mechanism.kind", tmp_path / "overview.png", "")
    zero_panel, latency_panel = saved[0].axes[:2]
    assert zero_panel.get_legend() is None and latency_panel.get_legend() is not None
    plt.close(saved[0])


# -- item 12: a custom plot's caption names its metrics -----------------------------------------


def test_custom_plot_caption():
    from simulator.output.report import _caption

    assert _caption("figures/plot-latency_p99-connections_peak--vs-clients_count--by-mechanism_kind.png") == (
        "latency p99 and open connections peak, against clients.count, one line per mechanism.kind")


# -- item 13: the run figure marks the warm-up and failures, and shows reconnects ---------------

CRASH = {
    "experiment.duration": "20s", "experiment.warmup": "5s", "clients.count": 20, "clients.connect_over": "2s",
    "mechanism.kind": "websocket", "server.nodes": 2,
    "failures": [{"kind": "node_crash", "node": 0, "at": "10s", "duration": "5s"}],
}


def _timeseries_figure(tmp_path, monkeypatch, overrides, base=None):
    """Run ``overrides`` into ``tmp_path`` and return the time-series figure (not saved)."""
    import simulator.output.run_figures
    from simulator.engine.runner import run
    from simulator.output.results import write_run
    from tests.conftest import make_config

    write_run(run(make_config(overrides, base)), tmp_path, figures=False)
    drawn = []
    monkeypatch.setattr(simulator.output.run_figures, "save_figure", lambda fig, path: drawn.append(fig))
    simulator.output.run_figures.run_figures(tmp_path)
    return drawn[1]


def _spans_of(ax) -> list[tuple[float, float]]:
    return sorted((round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6)) for p in ax.patches)


def test_run_figure_marks_warmup_and_failures_and_shows_reconnects(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    push = {k: v for k, v in SMALL.items() if k != "mechanism.interval"}
    fig = _timeseries_figure(tmp_path, monkeypatch, CRASH, base=push)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    labels = [ax.get_ylabel() for ax in panels]
    assert "reconnects / s" in labels and len(panels) == 7
    for ax in panels:
        assert _spans_of(ax) == [(0.0, 5.0), (10.0, 15.0)]  # the warm-up, node 0 down
    assert [t.get_text() for t in panels[0].texts] == ["warm-up", "node 0 down"]
    # the gauge sampled at the end of window [9 s, 10 s) is drawn at 10 s, inside the failure
    connections = panels[labels.index("open connections")].get_lines()[0]
    xs, ys = connections.get_xdata(), connections.get_ydata()
    after_warmup = [(y, x) for x, y in zip(xs, ys, strict=True) if x > 5]
    assert min(after_warmup)[1] == 10.0
    plt.close(fig)


def test_run_figure_without_reconnects_has_no_reconnect_panel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig = _timeseries_figure(tmp_path, monkeypatch, {"experiment.duration": "10s", "clients.count": 5})
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert "reconnects / s" not in [ax.get_ylabel() for ax in panels] and len(panels) == 6
    assert _spans_of(panels[0]) == [(0.0, 10.0)]  # SMALL's 10 s warm-up, no failure
    plt.close(fig)


# -- item 15: one config, another mechanism --------------------------------------------------------

POLLING = """
[experiment]
name = "polling"
duration = "5s"
warmup = "1s"
[clients]
count = 5
connect_over = "1s"
[mechanism]
kind = "short_polling"
interval = "2s"
schedule = "after_response"
"""


def test_run_with_another_mechanism_sets_the_files_other_keys_aside(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(POLLING)
    runner = CliRunner()
    ok = runner.invoke(main, ["run", str(config), "--set", "mechanism.kind=sse", "--out", str(tmp_path / "sse"),
                              "--quiet", "--no-figures"])
    assert ok.exit_code == 0, ok.output
    assert ok.stderr == (f"note: {config}: ignored: mechanism.interval and mechanism.schedule apply to"
                         " short_polling, not sse\n")
    summary = json.loads((tmp_path / "sse" / "summary.json").read_text())
    assert summary["config"]["mechanism"]["kind"] == "sse" and "interval" not in summary["config"]["mechanism"]
    # a key given on purpose for the wrong kind, or a key of no kind, is still refused
    for given, expected in (("mechanism.hold=5s", "(a long_polling key)"),
                            ("mechanism.heartbeet=5s", "did you mean 'heartbeat'?")):
        refused = runner.invoke(main, ["run", str(config), "--set", "mechanism.kind=sse", "--set", given,
                                       "--out", str(tmp_path / "no"), "--quiet"])
        assert refused.exit_code == 2 and expected in refused.stderr, refused.output
    assert not (tmp_path / "no").exists()


def test_one_rule_sets_other_kinds_keys_aside():
    from simulator.config.load import set_aside_other_kinds
    from simulator.workflow.grid import _fit_mechanism

    mechanism = {"kind": "sse", "interval": "2s", "hold": "5s", "heartbeat": "5s", "heartbeet": 1, "backoff": {}}
    notes = set_aside_other_kinds(mechanism, "sse")
    assert notes == ["ignored: mechanism.interval applies to short_polling, not sse",
                     "ignored: mechanism.hold applies to long_polling, not sse"]
    assert mechanism == {"kind": "sse", "heartbeat": "5s", "heartbeet": 1, "backoff": {}}  # a typo stays
    point = {"mechanism": {"kind": "websocket", "interval": "2s", "heartbeat": "5s", "heartbeet": 1}}
    _fit_mechanism(point)  # a sweep point: the same rule
    assert point["mechanism"] == {"kind": "websocket", "heartbeat": "5s", "heartbeet": 1}
