"""`sim report`: report.md and report.html for sweeps and runs, with links that resolve."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import main
from simulator.output.catalogue import format_value as fmt_value

CONFIG = """
[experiment]
name = "reported"
description = "Does the report carry the description through?"
seed = 9
duration = "4s"
warmup = "1s"

[clients]
count = 10
connect_over = "1s"
"""


def md_links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


def html_links(text: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', text)


def assert_links_resolve(folder: Path) -> tuple[str, str]:
    md = (folder / "report.md").read_text()
    page = (folder / "report.html").read_text()
    for links in (md_links(md), html_links(page)):
        assert links
        for link in links:
            assert not link.startswith("/") and (folder / link).is_file(), link
    return md, page


def test_sweep_report(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    out = tmp_path / "sweep"
    simulator.sweep(config, grid={"clients.count": [10, 100], "mechanism.kind": ["short_polling", "sse"]},
                    replications=2, workers=1, out=out)
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    md, page = assert_links_resolve(out)  # the figures were drawn because there were none
    assert "Does the report carry the description through?" in md and "through?" in page
    images = [link for link in md_links(md) if link.endswith(".png")]
    assert "figures/overview.png" in images and len(images) >= 9
    # the key-metric table: one row per point, mean ± half-width as in summary.csv
    table = [line for line in md.splitlines() if line.startswith("| 10 ") or line.startswith("| 100 ")]
    assert len(table) == 4
    summary = list(csv.DictReader(open(out / "summary.csv")))
    row = next(r for r in summary if r["clients.count"] == "100" and r["mechanism.kind"] == "sse")
    expected = fmt_value(float(row["latency.p99"]), "s", float(row["latency.p99.ci95"]))
    assert expected in next(line for line in table if line.startswith("| 100 | sse"))
    assert "```toml" in md and "[sweep.grid]" in md
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page


def test_run_report(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    run_dir = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(config), "--out", str(run_dir), "--quiet"]).exit_code == 0
    assert runner.invoke(main, ["report", str(run_dir)]).exit_code == 0
    md, _ = assert_links_resolve(run_dir)
    assert "latency_cdf.png" in md_links(md) and "timeseries.png" in md_links(md)
    assert "Does the report carry the description through?" in md
    # --embed: the figures travel inside the page
    assert runner.invoke(main, ["report", str(run_dir), "--embed"]).exit_code == 0
    page = (run_dir / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 2 and all(src.startswith("data:image/png;base64,") for src in sources)


def test_report_of_an_unknown_folder_is_an_input_error(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a run or sweep folder" in result.output


@pytest.mark.parametrize(("value", "unit", "ci", "text"), [
    (0.02512, "s", 0.0012, "25.12 ms ± 1.20"),
    (2.5, "s", None, "2.50 s"),
    (0.0123, "fraction", 0.001, "1.23% ± 0.10"),
    (300 * 2**20, "B", 0.0, "300 MiB ± 0"),
])
def test_values_share_the_unit_of_their_mean(value, unit, ci, text):
    assert fmt_value(value, unit, ci) == text
