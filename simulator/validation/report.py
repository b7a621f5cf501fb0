"""The validation table for humans (rich), for spreadsheets (CSV) and for documents (Markdown)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from simulator.output.atomic import write_atomic
from simulator.validation.core import Agree, Verdict

STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow"}


def fmt_value(value: float, unit: str) -> str:
    """A value in its unit for the table: seconds as ms or s, fractions as %, big numbers grouped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "s":
        a = abs(value)
        if a == 0:
            return "0 s"
        if a < 1e-3:
            return f"{value * 1e6:,.2f} µs"
        if a < 1:
            return f"{value * 1e3:,.3f} ms"
        return f"{value:,.4f} s"
    if unit == "fraction":
        return f"{value * 100:.3f} %"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.4g} {unit}".strip()


def fmt_ci(v: Verdict) -> str:
    """``mean ± half-width`` in the case's unit (half-width without unit when it shares it)."""
    if v.status == "skip" or math.isnan(v.mean):
        return "—"
    unit = v.case.unit
    if len(v.values) < 2:  # no interval from one run (deterministic cases in the quick suite)
        return f"{fmt_value(v.mean, unit)} (1 run)"
    if unit == "fraction":
        return f"{v.mean * 100:.3f} ± {v.half_width * 100:.3f} %"
    return f"{fmt_value(v.mean, unit)} ± {fmt_value(v.half_width, unit)}"


def fmt_rel(v: Verdict) -> str:
    """The relative error in percent, or a dash."""
    r = v.rel_error
    return "—" if math.isnan(r) else f"{r * 100:+.3f} %"


def expected_text(v: Verdict) -> str:
    """The expected value in the case's unit."""
    return v.case.rule.describe(v.case.expected, lambda x: fmt_value(x, v.case.unit))


def status_text(v: Verdict) -> str:
    """pass / fail, or the reason a case was skipped."""
    return v.note if v.status == "skip" else v.status


def rich_table(verdicts: Sequence[Verdict], title: str = "sim validate") -> Table:
    """The table printed by ``sim validate``."""
    table = Table(title=title, show_header=True, header_style="bold", show_lines=False)
    table.add_column("case")
    table.add_column("quantity", style="dim")
    table.add_column("theory / published", justify="right")
    table.add_column("simulated (95 % CI)", justify="right")
    table.add_column("rel. error", justify="right")
    table.add_column("result")
    group = None
    for v in verdicts:
        if v.case.group != group:
            if group is not None:
                table.add_section()
            group = v.case.group
        style = STATUS_STYLE[v.status]
        result = f"[{style}]{status_text(v)}[/{style}]"
        if v.status == "fail" and v.note:
            result += f"\n[dim]{v.note}[/dim]"
        table.add_row(v.case.name, v.case.quantity, expected_text(v), fmt_ci(v), fmt_rel(v), result)
    return table


def summary_line(verdicts: Sequence[Verdict]) -> str:
    """`N passed, N failed, N skipped`."""
    counts = {s: sum(1 for v in verdicts if v.status == s) for s in ("pass", "fail", "skip")}
    return f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"


CSV_COLUMNS = [
    "group", "case", "quantity", "unit", "expected", "rule", "source", "replications",
    "mean", "ci95", "rel_error", "allowance", "allowance_reason", "status", "note",
]


def to_csv(verdicts: Sequence[Verdict]) -> str:
    """One row per case with raw numbers (SI units) for further analysis."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for v in verdicts:
        c = v.case
        w.writerow(
            {
                "group": c.group,
                "case": c.name,
                "quantity": c.quantity,
                "unit": c.unit,
                "expected": repr(c.expected),
                "rule": type(c.rule).__name__,
                "source": c.source,
                "replications": len(v.values) if v.values else c.replications,
                "mean": "" if v.status == "skip" else repr(v.mean),
                "ci95": "" if v.status == "skip" else repr(v.half_width),
                "rel_error": "" if math.isnan(v.rel_error) else repr(v.rel_error),
                "allowance": repr(v.allowance),
                "allowance_reason": c.rule.reason,
                "status": v.status,
                "note": v.note,
            }
        )
    return buf.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(verdicts: Sequence[Verdict]) -> str:
    """The table as GitHub Markdown, with the allowance and source of each case."""
    lines = [
        "| case | quantity | theory / published | simulated (mean ± 95 % CI) | rel. error | allowance | result |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for v in verdicts:
        rule = v.case.rule
        allowance = (
            f"{fmt_value(v.allowance, v.case.unit)}: {rule.reason}"
            if isinstance(rule, Agree) and v.allowance > 0
            else rule.reason if not isinstance(rule, Agree) else "—"
        )
        result = status_text(v) if v.status != "fail" else f"**fail** {v.note}".strip()
        lines.append(
            "| "
            + " | ".join(
                _md(x)
                for x in (
                    v.case.name,
                    f"`{v.case.quantity}`",
                    expected_text(v),
                    fmt_ci(v),
                    fmt_rel(v),
                    allowance,
                    result,
                )
            )
            + " |"
        )
    lines.append("")
    lines.append(f"{summary_line(verdicts)}.")
    return "\n".join(lines) + "\n"


def write_outputs(verdicts: Sequence[Verdict], out_dir: Path) -> list[Path]:
    """``validation.csv`` and ``validation.md`` in ``out_dir`` (atomically); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "validation.csv", out_dir / "validation.md"
    write_atomic(csv_path, to_csv(verdicts))
    write_atomic(md_path, to_markdown(verdicts))
    return [csv_path, md_path]
