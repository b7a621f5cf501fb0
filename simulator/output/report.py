"""``sim report DIR``: ``report.md`` and a standalone ``report.html`` for a run or a sweep.

The report is built once as a list of blocks (headings, paragraphs, tables,
figures, code) and rendered twice, to Markdown and to HTML with its own style
sheet, so the two never disagree.  Figures and data files are linked with
paths relative to DIR: copy the folder and the links still resolve.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from simulator.config import DEFAULT_KIND, ConfigError, read_toml, registry
from simulator.config.load import all_keys
from simulator.output.atomic import write_atomic
from simulator.output.catalogue import CATALOGUE, format_metric, label_of, table_metrics
from simulator.output.readers import read_summary
from simulator.output.run_figures import run_figures
from simulator.output.sweep_figures import load_sweep, slug, sweep_figures
from simulator.output.tables import delivery_note


@dataclass
class Block:
    """One piece of a report (a heading, a paragraph, a table, an image, code, links), rendered to Markdown and HTML."""
    kind: str  # h1 | h2 | p | table | image | code | links
    text: str = ""
    rows: list[list[str]] | None = None  # table: first row is the header
    path: str = ""  # image: relative path


# ---------------------------------------------------------------------------
# Content


def sweep_blocks(folder: Path, fmt: str, draw: bool = True) -> list[Block]:
    """A sweep folder's report: its axes, key-metric tables and figures."""
    data = load_sweep(folder)
    m = data.manifest
    counts = m.get("counts", {})
    # a swept name or description varies by point: the manifest holds the first point's
    name = folder.name if "experiment.name" in data.axes else data.name
    blocks = [Block("h1", f"Sweep: {name}")]
    if "experiment.description" in data.axes:
        blocks.append(Block("p", "The description differs between points: experiment.description is an axis of the grid."))
    elif m.get("description"):
        blocks.append(Block("p", m["description"]))
    failed = counts.get("runs_failed", 0)
    blocks.append(Block("p", (
        f"{counts.get('points', len(data.rows))} points × {m.get('replications')} replications"
        f" ({counts.get('runs_ok', 0)} runs ok, {failed} failed; status: {m.get('status')})."
        f" Values are means with the 95 % Student-t confidence half-width over the replications."
        f" Replication seeds derive from experiment.seed = {m.get('seed')} and the point's resolved [clients] and [workload]"
        f" sections: points that differ only in the mechanism or the server share their random numbers (common random numbers).")))
    if data.axes:
        blocks.append(Block("h2", "Grid"))
        rows = [["axis", "values"]] + [[k, ", ".join(map(str, v))] for k, v in data.axes.items()]
        blocks.append(Block("table", rows=rows))
    metrics = table_metrics(data.rows)
    blocks.append(Block("h2", "Key metrics"))
    header = [*data.axes, "n", *[label_of(k) for k in metrics]]
    table = [header]
    for row in data.rows:
        cells = [str(row.get(k)) for k in data.axes] + [f"{row.get('replications', 0):.0f}"]
        cells += [format_metric(k, row[k], row.get(f"{k}.ci95")) for k in metrics]
        table.append(cells)
    blocks.append(Block("table", rows=table))
    notes = _unserved_notes(data)
    if notes:
        blocks.append(Block("p", "Not applicable: " + "; ".join(notes)
                            + ". Those rows are simulated, but describe clients the mechanism would not have."))
    figures = _figures(folder, fmt, sweep=True, draw=draw)
    if figures:
        blocks.append(Block("h2", "Figures"))
        blocks += [Block("image", text=_caption(p), path=p) for p in figures]
    errors = [(p, r, e) for p in m.get("points", []) for r, e in p.get("errors", {}).items()]
    if errors:
        blocks.append(Block("h2", "Failed runs"))
        rows = [["point", "values", "replication", "error"]]
        rows += [[p["id"], json.dumps(p["values"]), r, e] for p, r, e in errors]
        blocks.append(Block("table", rows=rows))
    blocks.append(Block("h2", "Files"))
    links = [f for f in ("runs.csv", "summary.csv", "manifest.json", "config.toml") if (folder / f).exists()]
    blocks.append(Block("links", rows=[[f, f] for f in links]))
    blocks.append(Block("p", (
        "Each point's resolved config is points/<id>/config.toml; one run is reproduced with"
        " `sim run points/<id>/config.toml --set experiment.seed=<seed>` (the seed column of runs.csv).")))
    blocks += _config_blocks(folder / "config.toml", "Sweep config")
    return blocks


def _unserved_notes(data) -> list[str]:
    """One line per swept mechanism that cannot serve the sweep's ``clients.kind`` (a webhook for phones)."""
    path = data.folder / "config.toml"
    try:
        base = read_toml(path) if path.exists() else {}
    except ConfigError:
        base = {}
    notes: list[str] = []
    for row in data.rows:
        kind = row.get("mechanism.kind", (base.get("mechanism") or {}).get("kind", DEFAULT_KIND))
        client_kind = row.get("clients.kind", (base.get("clients") or {}).get("kind", "browser"))
        note = None if client_kind == "browser" else registry.client_kind_note(str(kind), str(client_kind))
        if note and note not in notes:
            notes.append(note)
    return notes


def run_blocks(folder: Path, fmt: str, draw: bool = True) -> list[Block]:

    """A run folder's report: its summary table, notes and figures."""
    summary = read_summary(folder / "summary.json")
    config, metrics, run = summary["config"], summary["metrics"], summary.get("run", {})
    exp = config.get("experiment", {})
    blocks = [Block("h1", f"Run: {exp.get('name', folder.name)}")]
    if exp.get("description"):
        blocks.append(Block("p", exp["description"]))
    blocks.append(Block("p", (
        f"{config['mechanism']['kind']}, {config['clients']['count']:,} clients,"
        f" {exp.get('duration')} measured after {exp.get('warmup')} of warm-up, seed {exp.get('seed')}."
        f" {run.get('events_processed', 0):,} events in {run.get('wall_seconds', 0):.2f} s wall.")))
    client_kind = (config.get("clients") or {}).get("kind", "browser")  # browser: the default, not flagged
    note = registry.client_kind_note(config["mechanism"]["kind"], client_kind) if client_kind != "browser" else None
    if note:
        blocks.append(Block("p", f"Not applicable: {note}. The run describes clients the mechanism would not have."))
    nothing = delivery_note(metrics)
    if nothing:
        blocks.append(Block("p", f"Note: {nothing}."))
    blocks.append(Block("h2", "Key metrics"))
    rows = [["metric", "value", "key"]]
    shown = table_metrics([metrics])
    for key in [*shown, *(k for k in ("latency.p50", "deliveries.delivered", "deliveries.lost", "connections.mean")
                          if k not in shown)]:
        if key in metrics:
            rows.append([label_of(key), format_metric(key, metrics[key]), key])
    blocks.append(Block("table", rows=rows))
    figures = _figures(folder, fmt, sweep=False, draw=draw)
    if figures:
        blocks.append(Block("h2", "Figures"))
        blocks += [Block("image", text=_caption(p), path=p) for p in figures]
    blocks.append(Block("h2", "Files"))
    links = [f for f in ("summary.json", "timeseries.csv", "latency_cdf.csv", "config.toml") if (folder / f).exists()]
    blocks.append(Block("links", rows=[[f, f] for f in links]))
    blocks += _config_blocks(folder / "config.toml", "Resolved config")
    return blocks


def _figures(folder: Path, fmt: str, sweep: bool, draw: bool = True) -> list[str]:
    """Relative paths of the folder's figures, drawing them first if there are none."""
    if sweep:
        found = sorted((folder / "figures").glob(f"*.{fmt}"))
        if not found and draw:

            found = sorted(sweep_figures(folder, fmt=fmt))
        found.sort(key=lambda p: (not p.name.startswith("overview"), p.name))
    else:
        found = [folder / f"{n}.{fmt}" for n in ("latency_cdf", "timeseries")]
        if draw and not all(p.exists() for p in found) and (folder / "timeseries.csv").exists():

            run_figures(folder, fmt=fmt)
    return [p.relative_to(folder).as_posix() for p in found if p.exists()]


def _caption(path: str) -> str:
    """``latency_p99--vs-clients_count--by-mechanism_kind`` -> a sentence for humans."""
    fixed = {"latency_cdf": "Latency CDF: the fraction of deliveries at most this late",
             "timeseries": "Time series: connections, requests/s (and reconnects/s when there were any), CPU,"
                           " bytes/s, memory, latency; shaded: the warm-up (grey) and each failure (red)"}
    if Path(path).stem in fixed:
        return fixed[Path(path).stem]
    parts = Path(path).stem.split("--")
    names = {slug(m): label_of(m) for m in CATALOGUE}
    head = parts[0]
    if head == "overview":
        words = ["all key metrics"]
    elif head.startswith("plot-"):  # a custom `sim plot`: one or several metrics
        heads = head[len("plot-"):].split("-")
        words = [" and ".join(names.get(h, h.replace("_", " ")) for h in heads)]
    else:
        words = [names.get(head, head.replace("_", " "))]
    for part in parts[1:]:
        if part.startswith("vs-"):
            words.append(f"against {_unslug(part[3:])}")
        elif part.startswith("by-"):
            words.append(f"one line per {_unslug(part[3:])}")
        else:
            key, _, value = part.partition("-")
            words.append(f"at {_unslug(key)} = {value}")
    return ", ".join(words)


def _unslug(text: str) -> str:
    """The config key a figure-file slug came from (``mechanism_receiver_workers`` ->
    ``mechanism.receiver_workers``); underscores read as dots when no key matches."""

    keys = {slug(k): k for k in all_keys()}
    return keys.get(text, text.replace("_", "."))


def _config_blocks(path: Path, title: str) -> list[Block]:
    if not path.exists():
        return []
    return [Block("h2", title), Block("code", path.read_text(encoding="utf-8"))]


# ---------------------------------------------------------------------------
# Rendering


# Markdown's inline specials (and $ for GitHub's math); "_" only where it can open or
# close emphasis, so metric keys such as cpu_utilization stay readable.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~#$])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_BLOCK_START = re.compile(r"^([-+=]|\d+[.)])")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def md_text(text: str, block_start: bool = False) -> str:
    """Plain text (from a config: name, description, swept values) as Markdown that shows it
    as it is: on one line, HTML and Markdown syntax escaped.  ``block_start``: the text opens
    a paragraph, where ``- ``, ``1. `` or ``---`` would start a list or a rule."""
    text = " ".join(_CONTROL.sub("\ufffd", str(text)).split())  # a newline must not start a heading
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    text = html.escape(text, quote=False)
    if block_start:
        text = _MD_BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)
    return text


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text`` (so it cannot close early)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(blocks: list[Block]) -> str:
    """Markdown of the blocks; their text is plain text, escaped here (HTML escapes it too)."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {md_text(b.text)}")
        elif b.kind == "h2":
            out.append(f"## {md_text(b.text)}")
        elif b.kind == "p":
            out.append(md_text(b.text, block_start=True))
        elif b.kind == "table" and b.rows:
            cells = [[md_text(c) for c in row] for row in b.rows]
            out.append("| " + " | ".join(cells[0]) + " |")
            out.append("|" + "|".join("---" for _ in cells[0]) + "|")
            out.extend("| " + " | ".join(row) + " |" for row in cells[1:])
        elif b.kind == "image":
            out.append(f"![{md_text(b.text)}]({b.path})")
        elif b.kind == "links" and b.rows:
            out.extend(f"- [{md_text(label)}]({target})" for label, target in b.rows)
        elif b.kind == "code":
            fence = _fence(b.text)
            out.append(f"{fence}toml\n" + b.text.rstrip() + f"\n{fence}")
        out.append("")
    return "\n".join(out)


STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:0.5em 0}
figure{margin:1em 0}figcaption{color:#666;font-size:0.85em}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:0.85em}"""


MIME = {".png": "image/png", ".svg": "image/svg+xml"}


def _image_src(path: str, embed_from: Path | None) -> str:
    """A relative link, or with ``embed_from`` the image itself as a data URI."""
    mime = MIME.get(Path(path).suffix)
    if embed_from is None or mime is None:
        return path
    data = base64.b64encode((embed_from / path).read_bytes()).decode("ascii")
    return f"data:{mime};base64,{data}"


def to_html(blocks: list[Block], title: str, embed_from: Path | None = None) -> str:
    """The page; with ``embed_from`` (the folder) figures are inlined: one file to send."""
    e = html.escape
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>",
           f"<style>{STYLE}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2"):
            out.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "table" and b.rows:
            head = "".join(f"<th>{e(c)}</th>" for c in b.rows[0])
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "image":
            src = _image_src(b.path, embed_from)
            out.append(f'<figure><img src="{e(src)}" alt="{e(b.text)}"><figcaption>{e(b.text)}</figcaption></figure>')
        elif b.kind == "links" and b.rows:
            items = "".join(f'<li><a href="{e(t)}">{e(label)}</a></li>' for label, t in b.rows)
            out.append(f"<ul>{items}</ul>")
        elif b.kind == "code":
            out.append(f"<pre><code>{e(b.text)}</code></pre>")
    out.append(f"<p><small>Generated by notifysim on {datetime.now():%Y-%m-%d %H:%M}.</small></p></body></html>")
    return "\n".join(out) + "\n"


def write_report(folder: str | Path, fmt: str = "png", draw: bool = True, embed: bool = False) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into a run or sweep folder; their paths.

    Figures missing from the folder are drawn first, unless ``draw`` is False.
    Both link figures relatively; ``embed`` inlines them into the HTML instead.
    """
    folder = Path(folder)
    if (folder / "manifest.json").exists():
        blocks = sweep_blocks(folder, fmt, draw)
    elif (folder / "summary.json").exists():
        blocks = run_blocks(folder, fmt, draw)
    else:
        raise ConfigError(f"error: {folder}: not a run or sweep folder (no summary.json or manifest.json)")
    md, page = folder / "report.md", folder / "report.html"
    write_atomic(md, to_markdown(blocks))
    write_atomic(page, to_html(blocks, blocks[0].text, folder if embed else None))
    return md, page

