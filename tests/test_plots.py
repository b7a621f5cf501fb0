"""Sweep figures: what is drawn (lines, bands, scales, units) and the `sim plot` command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import main
from simulator.output.catalogue import KEY_METRICS, display_scale
from simulator.output.plotting import plt
from simulator.output.sweep_figures import (
    draw_metric,
    load_sweep,
    numeric_axis,
    sweep_figures,
)

BASE = """
[experiment]
name = "plotted"
description = "Figures test."
seed = 2
duration = "4s"
warmup = "1s"

[clients]
count = 10
connect_over = "1s"

[mechanism]
interval = "2s"
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    config = root / "c.toml"
    config.write_text(BASE)
    out = root / "sweep"
    simulator.sweep(config, grid={"clients.count": [10, 40, 160], "mechanism.kind": ["short_polling", "sse"]},
                    replications=2, workers=1, out=out)
    return out


def test_numeric_axes_include_durations_and_sizes():
    assert numeric_axis([10, 100]) == ([10.0, 100.0], "")
    assert numeric_axis(["250ms", "2s"]) == ([0.25, 2.0], "s")
    assert numeric_axis(["1KiB", "2KiB"]) == ([1024.0, 2048.0], "B")
    assert numeric_axis(["sse", "websocket"]) is None


def test_display_units():
    assert display_scale("s", 0.5) == (1e3, "ms")
    assert display_scale("s", 3.0) == (1.0, "s")
    assert display_scale("B", 300 * 2**20) == (2**-20, "MiB")
    assert display_scale("B/s", 5000.0) == (2**-10, "KiB/s")
    assert display_scale("fraction", 0.3) == (100.0, "%")


def test_lines_bands_scales_and_units(sweep_dir):
    data = load_sweep(sweep_dir)
    fig, ax = plt.subplots()
    draw_metric(ax, data, data.rows, "latency.mean", "clients.count", "mechanism.kind")
    assert [line.get_label() for line in ax.get_lines()] == ["short_polling", "sse"]
    assert all(len(line.get_xdata()) == 3 for line in ax.get_lines())
    assert list(ax.get_lines()[0].get_xdata()) == [10, 40, 160]  # sorted by the numeric axis
    assert ax.get_xscale() == "log"  # 10 -> 160 spans more than a decade
    assert len(ax.collections) == 2  # one confidence band per line
    # short polling every 2 s is about 1 s late, SSE about 25 ms: 40x -> log y; units in ms
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() in ("latency mean (ms)", "latency mean (s)")
    assert ax.get_legend().get_title().get_text() == "mechanism.kind"
    plt.close(fig)


def test_default_figures_after_a_sweep(sweep_dir):
    made = sweep_figures(sweep_dir)
    names = {p.name for p in made}
    for metric in KEY_METRICS:
        assert f"{metric.replace('.', '_')}--vs-clients_count--by-mechanism_kind.png" in names
    assert "overview.png" in names
    for path in made:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_categorical_axis_gives_bars_with_error_bars(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(BASE)
    out = tmp_path / "cat"
    simulator.sweep(config, grid={"mechanism.kind": ["short_polling", "sse", "websocket"]},
                    replications=2, workers=1, out=out)
    data = load_sweep(out)
    fig, ax = plt.subplots()
    draw_metric(ax, data, data.rows, "requests.per_second", "mechanism.kind", None)
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["short_polling", "sse", "websocket"]
    plt.close(fig)


def test_sim_plot_custom_svg_and_facets(sweep_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["plot", str(sweep_dir), "--x", "clients.count", "--y", "latency.p99",
                                  "--y", "connections.peak", "--by", "mechanism.kind", "--format", "svg"])
    assert result.exit_code == 0, result.output
    svgs = [line for line in result.output.split() if line.endswith(".svg")]
    assert len(svgs) == 3  # two metrics + the overview
    assert all("<svg" in open(p).read(2000) for p in svgs)
    # x = mechanism, lines per client count
    swapped = runner.invoke(main, ["plot", str(sweep_dir), "--x", "mechanism.kind", "--by", "clients.count",
                                   "--y", "latency.mean"])
    assert swapped.exit_code == 0, swapped.output


def test_custom_plots_never_overwrite_the_sweeps_figures(sweep_dir):
    own = {name: name.encode() for name in ("overview.png", "latency_p99--vs-clients_count--by-mechanism_kind.png")}
    for name, data in own.items():  # stand-ins for the sweep's own figures
        (sweep_dir / "figures").mkdir(exist_ok=True)
        (sweep_dir / "figures" / name).write_bytes(data)
    result = CliRunner().invoke(main, ["plot", str(sweep_dir), "--y", "latency.p99", "--y", "connections.peak"])
    assert result.exit_code == 0, result.output
    custom = [line.rsplit("/", 1)[-1] for line in result.output.split()]
    assert custom == ["plot-latency_p99--vs-clients_count--by-mechanism_kind.png",
                      "plot-connections_peak--vs-clients_count--by-mechanism_kind.png",
                      "plot-latency_p99-connections_peak--vs-clients_count--by-mechanism_kind.png"]
    assert not set(custom) & set(own)
    for name, data in own.items():
        assert (sweep_dir / "figures" / name).read_bytes() == data, name


def test_sim_plot_bad_input(sweep_dir):
    runner = CliRunner()
    bad_x = runner.invoke(main, ["plot", str(sweep_dir), "--x", "clients.cont"])
    assert bad_x.exit_code == 2 and "clients.count" in bad_x.output
    bad_y = runner.invoke(main, ["plot", str(sweep_dir), "--y", "latency.p98"])
    assert bad_y.exit_code == 2 and "latency.p98" in bad_y.output
    nothing = runner.invoke(main, ["plot", str(sweep_dir / "points")])
    assert nothing.exit_code == 2 and "not a run or sweep folder" in nothing.output


def test_three_axes_give_one_figure_per_facet(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(BASE)
    out = tmp_path / "facets"
    simulator.sweep(config, grid={"clients.count": [10, 20], "mechanism.kind": ["short_polling", "sse"],
                                  "network.latency": ["10ms", "80ms"]}, replications=1, workers=1, out=out)
    made = sweep_figures(out, y=["latency.mean", "latency.p99"])
    assert sorted(p.name for p in made if p.name.startswith("plot-latency_mean-latency_p99")) == [
        "plot-latency_mean-latency_p99--vs-clients_count--by-mechanism_kind--network_latency-10ms.png",
        "plot-latency_mean-latency_p99--vs-clients_count--by-mechanism_kind--network_latency-80ms.png"]


def test_sim_plot_on_a_run_folder(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(BASE)
    run_dir = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(config), "--out", str(run_dir), "--quiet", "--no-figures"]).exit_code == 0
    result = runner.invoke(main, ["plot", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "latency_cdf.png").exists() and (run_dir / "timeseries.png").exists()
    assert runner.invoke(main, ["plot", str(run_dir), "--x", "clients.count"]).exit_code == 2


def test_readme_figures_command(tmp_path):
    from simulator.cli.figures import FIGURES, make_figures

    made = make_figures(out=tmp_path / "figures", results=tmp_path / "results", workers=1, quiet=True,
                        grid={"clients.count": [10, 100]}, replications=1)
    names = {p.name for p in made}
    assert {f"{stem}.png" for _, stem in FIGURES} <= names
    assert {"scaling_overview.png", "scaling_clients_summary.csv"} <= names
    assert all(p.stat().st_size > 0 for p in made)
