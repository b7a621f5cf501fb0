"""A plan's result folder: ``plan.csv``, ``plan.json``, ``configs/`` and ``manifest.json``.

Each answered row is written at once: ``plan.csv`` (every number),
``plan.json``, ``configs/<mechanism>-<clients>.toml`` (the resolved config of
the row's run: ``sim run`` on it reproduces the row) and ``manifest.json``
(rows and every simulation made, which a resumed plan reuses).  ``sim plan
--out DIR [--resume]`` and ``simulator.plan(..., out=DIR, resume=True)`` write
the same folder, and either resumes the other's.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from simulator.config import ConfigError
from simulator.output import strict_json
from simulator.output.atomic import write_atomic
from simulator.workflow.plan_rows import PlanRow, cheapest, nodes_text

if TYPE_CHECKING:
    from simulator.workflow.planner import Planner

MANIFEST_KIND = "notifysim-plan"


def sim_plan_invocation(config: str | Path, clients: str, slos: list[str] | tuple[str, ...], mechanisms: str | None,
                        tunes: list[str] | tuple[str, ...], allow_loss: bool, overrides: list[str] | tuple[str, ...],
                        max_nodes: int, out: str | Path | None) -> dict[str, Any]:
    """The ``sim plan`` command line of a plan and the one that resumes it (kept in the manifest)."""
    args = ["sim", "plan", str(config), "--clients", clients]
    for slo in slos:
        args += ["--slo", slo]
    if mechanisms:
        args += ["--mechanisms", mechanisms]
    for item in tunes:
        args += ["--tune", item]
    for item in overrides:
        args += ["--set", item]
    if allow_loss:
        args.append("--allow-loss")
    args += ["--max-nodes", str(max_nodes)]
    if out:
        args += ["--out", str(out)]
    return {"command": shlex.join(args), "resume_command": shlex.join([*args, "--resume"])}


class PlanStore:
    """The ``--out`` folder: refused untouched unless new, empty or (with --resume) this plan's."""

    def __init__(self, out: Path, planner: Planner, invocation: dict[str, Any], resume: bool):
        out = Path(out)
        self.out = out
        self.planner = planner
        self.invocation = invocation
        self.fingerprint = planner.fingerprint()
        self.kept_rows: list[PlanRow] = []  # rows of other client counts or mechanisms, from the manifest
        manifest_path = out / "manifest.json"
        if out.exists() and not out.is_dir():
            raise ConfigError(f"error: --out {out}: not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not resume:
                hint = "add --resume to continue it" if manifest_path.exists() else "choose an empty or new folder"
                raise ConfigError(f"error: --out {out}: the folder is not empty; {hint}")
            self._load(manifest_path)
        try:
            (out / "configs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"error: --out {out}: cannot create the folder: {exc.strerror}") from None
        self.write(status="running")

    def _load(self, path: Path) -> None:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
                raise ValueError("not a plan manifest")
            rows = [PlanRow.from_state(state) for state in manifest["rows"]]
            runs = {str(k): dict(v) for k, v in manifest["runs"].items()}
            stored = dict(manifest["fingerprint"])
        except FileNotFoundError:
            raise ConfigError(f"error: --out {self.out}: no plan to resume here (no manifest.json)") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"error: {path}: cannot resume from it: {exc}") from None
        differ = [name for name, value in self.fingerprint.items() if stored.get(name) != value]
        if differ:
            raise ConfigError(
                f"error: --resume {self.out}: this plan was made with another {', '.join(differ)};"
                f" nothing changed (rerun it as: {manifest.get('invocation', {}).get('resume_command', '?')},"
                f" or use another --out)")
        wanted = set(self.planner.row_keys())
        for row in rows:
            if row.key in wanted:
                self.planner.rows[row.key] = row
        self.planner.known.update(runs)
        self.kept_rows = [row for row in rows if row.key not in wanted]

    def on_run(self, key: str, metrics: dict[str, float]) -> None:
        """After each simulation: the manifest keeps it, for a resume."""
        self.write(status="running")

    def on_row(self, row: PlanRow) -> None:
        """After each answered row: its config file, then the tables and the manifest."""
        if row.config:
            text = f"# sim plan: {row.mechanism}, {row.clients:,} clients: {nodes_text(row, self.planner.max_nodes)}" \
                   f" nodes, binding constraint: {row.binding}\n" + tomli_w.dumps(row.config)
            write_atomic(self.out / "configs" / row.config_name, text)
        self.write(status="running")

    def write(self, status: str) -> None:
        """plan.csv and plan.json (answered rows, in plan order), then the manifest."""
        planner = self.planner
        rows = [planner.rows[k] for k in planner.row_keys() if k in planner.rows]
        best = {id(r) for r in cheapest(rows).values()} if len(planner.mechanisms) > 1 else set()
        records = []
        for row in rows:
            record = row.as_dict(planner.slos)
            record["cheapest"] = id(row) in best
            records.append(record)
        fields: list[str] = []
        for record in records:
            fields += [k for k in record if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(records)
        write_atomic(self.out / "plan.csv", buf.getvalue() if records else "")
        write_atomic(self.out / "plan.json", strict_json.dumps(
            {"slos": [str(s) for s in planner.slos], "allow_loss": planner.allow_loss, "rows": records},
            indent=2, default=str))
        manifest = {
            "kind": MANIFEST_KIND,
            "status": status,
            "invocation": self.invocation,
            "fingerprint": self.fingerprint,
            "rows_done": len(rows),
            "rows_total": len(planner.row_keys()),
            "rows": [r.state() for r in rows] + [r.state() for r in self.kept_rows],
            "runs": planner.known,
        }
        write_atomic(self.out / "manifest.json", strict_json.dumps(manifest, indent=1, default=str))

