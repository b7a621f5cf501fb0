"""A sweep's results on disk: one atomic record per finished run, tables derived from them.

Folder layout (``sim sweep --out DIR``)::

    DIR/manifest.json               grid, points, per-point status and errors, counts
    DIR/config.toml                 the sweep's config (--set applied, effective grid)
    DIR/runs.csv                    one row per point and replication
    DIR/summary.csv                 one row per point: METRIC (mean) and METRIC.ci95
    DIR/points/<id>/config.toml     the point's resolved config (runnable by `sim run`)
    DIR/points/<id>/rep-NNN.json    one finished run: seed, status, metrics or error
    DIR/points/<id>/summary.json    the point's means and 95 % half-widths
    DIR/figures/                    written by simulator.output.sweep_figures

The ``rep-NNN.json`` records are the truth and each is written atomically
when its run finishes, by the parent process only.  Everything else is
derived from them and rewritten atomically at least once a second and at the
end; so a sweep killed at any instant leaves whole files, at worst tables a
second behind the records, and ``--resume`` (which rebuilds the tables) runs
exactly the runs without an ``ok`` record: a row can never be duplicated,
because a run's record has one path.

``--resume`` reuses a record only if it provably belongs to the plan: each
record holds its task key (a hash of the point's resolved config and its
seed), checked against the plan's before anything is written; the manifest's
fingerprint and points must match too.  The manifest also stores the
invocation, so ``sim sweep --resume DIR`` alone continues a sweep.
"""


from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import shlex
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

import models
import simulator.config
import simulator.engine
from simulator.config import ConfigError
from simulator.output import strict_json
from simulator.output.atomic import WriteFailed, move_aside, unwritable, write_atomic
from simulator.workflow.grid import Plan, Task, make_plan

MANIFEST = "manifest.json"
LOCK = ".sweep.lock"
#: What --force moves aside (into ``DIR/.old-<timestamp>/``) in an existing folder; nothing else.
OWN_FILES = ("manifest.json", "config.toml", "runs.csv", "summary.csv", "report.md", "report.html")
OWN_DIRS = ("points", "figures")


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95 % Student-t half-width ``t(0.975, n-1) * s / sqrt(n)`` (NaN if n < 2)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    mean = float(np.mean(x))
    if x.size < 2:
        return mean, math.nan
    sd = float(np.std(x, ddof=1))
    return mean, _t975(x.size - 1) * sd / math.sqrt(x.size)


@functools.cache
def _t975(df: int) -> float:
    """Student-t 97.5 % quantile (cached: a sweep asks for the same few df thousands of times)."""
    from scipy import stats  # imported here: `sim run` need not pay for scipy

    return float(stats.t.ppf(0.975, df))


def cell(value: Any) -> str:
    """A CSV cell: exact floats (repr), integers as integers, NaN empty, tables as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as CSV text in the given column order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue()


@functools.cache
def code_fingerprint() -> str:
    """A hash of the source that can change metrics: the config and engine layers and the models.

    Kept in the manifest so that ``--resume`` can say when a folder would mix
    runs of two versions of the model.  Presentation (output, cli) and the
    workflow never change a metric, so editing them keeps the fingerprint.
    """

    digest = hashlib.sha256()
    for package in (simulator.config, simulator.engine, models):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _json_number(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None if it is missing or unreadable (empty, not JSON, not an object)."""
    try:
        manifest = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def resume_command(out: str | Path) -> str:
    """The command that continues the sweep in ``out`` (it needs nothing else: see :func:`resume_plan`)."""
    return f"sim sweep --resume {shlex.quote(str(out))}"


def plan_differences(plan: Plan, manifest: dict[str, Any]) -> list[str]:
    """How ``plan`` differs from the sweep a manifest describes (empty: the same runs)."""
    problems = []
    if manifest.get("fingerprint") not in (None, plan.fingerprint()):
        problems.append("the config differs from the sweep's")
    stored = [p.get("id") for p in manifest.get("points") or [] if isinstance(p, dict)]
    if "points" in manifest and sorted(stored) != sorted(p.id for p in plan.points):
        there = json.dumps(manifest.get("axes"), default=str)
        here = json.dumps(plan.grid, default=str)
        problems.append(f"the grid differs from the sweep's ({there} there, {here} here)")
    if manifest.get("replications") not in (None, plan.replications):
        problems.append(f"the replications differ ({manifest['replications']} there, {plan.replications} here)")
    return problems


def resume_plan(out: str | Path) -> tuple[Plan, dict[str, Any]]:
    """The plan and stored invocation of the sweep in ``out`` (``sim sweep --resume DIR``).

    The plan is rebuilt from the stored invocation (config, ``--set``,
    ``--replications``); if that config was edited or moved since, from the
    folder's own ``config.toml`` (the sweep's config with its grid).  Either
    way the records are then checked against it run by run.
    """
    out = Path(out)
    if not (out / MANIFEST).exists() and not (out / "points").exists():
        raise ConfigError(f"error: {out}: --resume: not a sweep folder (no {MANIFEST})")
    manifest = read_manifest(out)
    invocation = dict((manifest or {}).get("invocation") or {})
    candidates = []
    if isinstance(invocation.get("config"), str):
        candidates.append((invocation["config"], list(invocation.get("set") or []), invocation.get("replications")))
    candidates.append((str(out / "config.toml"), [], None))
    first_error = None
    for config, sets, replications in candidates:
        try:
            plan = make_plan(config, grid=sets, replications=replications)
        except ConfigError as exc:
            first_error = first_error or exc.lines[0]
            continue
        if manifest is None or not plan_differences(plan, manifest):
            if config != candidates[0][0]:
                warnings.warn(f"{candidates[0][0]} no longer gives this sweep; resuming with its own copy {config}",
                              stacklevel=2)
            return plan, invocation
    why = f" ({first_error.removeprefix('error: ')})" if first_error else ""
    raise ConfigError(
        f"error: {out}: --resume: neither the sweep's config nor {out / 'config.toml'} gives the sweep"
        f" recorded there{why}; start over with CONFIG --out {out} --force (the old results are kept aside)"
    )


class SweepStore:
    """The records of one sweep: in memory, and in ``out`` when a folder is given.

    ``invocation`` (config path, ``--set``, ``--replications``, ``--workers``,
    ``--scheduler``) is kept in the manifest for ``sim sweep --resume DIR``.
    """

    def __init__(
        self,
        plan: Plan,
        out: str | Path | None = None,
        resume: bool = False,
        force: bool = False,
        refresh_every: float = 1.0,
        invocation: dict[str, Any] | None = None,
    ):
        self.plan = plan
        self.out = Path(out) if out is not None else None
        self.refresh_every = refresh_every
        self.invocation = invocation
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self.status = "running"
        self.created = _now()
        self.moved_aside: Path | None = None  # where --force put the old results
        self._last_refresh = 0.0
        self._dirty: set[str] = set()  # points whose summary.json is to be rewritten
        self._stale: set[str] = set()  # points whose cached summary row is out of date
        self._rows: dict[str, dict[str, Any] | None] = {}
        self.code: list[str] = []  # code_fingerprint() of every version that recorded runs here
        self._index = {p.id: p for p in plan.points}
        if self.out is not None:
            self._prepare(resume, force)

    # -- setting up the folder -------------------------------------------------

    def _prepare(self, resume: bool, force: bool) -> None:
        out = self.out
        assert out is not None
        if out.exists() and not out.is_dir():
            raise ConfigError(f"error: {out}: exists and is not a folder")
        existed = out.exists()
        try:  # before any run: a folder we cannot write is refused at once
            has_sweep = (out / MANIFEST).exists() or (out / "points").exists()
            non_empty = out.exists() and any(p.name != LOCK for p in out.iterdir())
            out.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as exc:
            raise ConfigError(unwritable(out, exc, existed)) from None
        try:
            self._check_folder(resume, force, has_sweep, non_empty)
            self._write(out / "config.toml", tomli_w.dumps(self.plan.sweep_config()))
            for point in self.plan.points:
                self._write(out / "points" / point.id / "config.toml", tomli_w.dumps(point.config.to_dict()))
            self.refresh(force=True)
        except BaseException:
            self.close()
            raise

    def _write(self, path: Path, text: str) -> None:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise WriteFailed(path, exc) from exc

    def _check_folder(self, resume: bool, force: bool, has_sweep: bool, non_empty: bool) -> None:
        out = self.out
        assert out is not None
        if force and non_empty:
            self._move_aside()
        elif resume and has_sweep:
            self._load_existing()
        elif resume and non_empty:
            raise ConfigError(f"error: {out}: --resume: not a sweep folder (no manifest.json); choose another --out")
        elif non_empty and has_sweep:
            raise ConfigError(
                f"error: {out}: already holds a sweep; finish it with: {resume_command(out)}"
                " (or --force to start over, keeping the old results aside, or another --out)"
            )
        elif non_empty:
            raise ConfigError(
                f"error: {out}: already holds other files; choose another --out"
                " (or --force to write there, keeping earlier sweep results aside)"
            )

    def _lock(self) -> None:
        """One sweep writes a folder at a time: ``.sweep.lock`` holds the writer's pid.

        A lock left by a killed sweep (its pid is gone) is taken over.
        """
        assert self.out is not None
        path = self.out / LOCK
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise ConfigError(
                        f"error: {self.out}: another sim sweep (pid {pid}) is writing this folder") from None
                path.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self._locked = True
            return

    def close(self) -> None:
        """Release the folder's lock (the records stay)."""
        if self.out is not None and getattr(self, "_locked", False):
            (self.out / LOCK).unlink(missing_ok=True)
            self._locked = False

    def _move_aside(self) -> None:
        """``--force``: move the earlier sweep's files into ``DIR/.old-<timestamp>/`` (never delete them)."""
        assert self.out is not None
        self.moved_aside = move_aside(self.out, [*OWN_FILES, *OWN_DIRS]) or self.moved_aside

    def _load_existing(self) -> None:
        """Take over the folder's records, each proven to be a run of this plan; else refuse."""
        assert self.out is not None
        out = self.out
        manifest = read_manifest(out)
        if manifest is not None:
            problems = plan_differences(self.plan, manifest)
            if problems:
                raise ConfigError(f"error: {out}: --resume: {'; '.join(problems)}; nothing was changed;"
                                  f" resume it with: {resume_command(out)}")
            self.created = manifest.get("created", self.created)
            self.code = [c for c in manifest.get("code") or [] if isinstance(c, str)]
            if self.invocation is None and isinstance(manifest.get("invocation"), dict):
                self.invocation = manifest["invocation"]
        if self.code and self.code[-1] != code_fingerprint():
            warnings.warn(
                f"{out}: the simulator's code changed since these runs were recorded; the tables"
                " will mix runs of both versions (use --force for a clean sweep)", stacklevel=2)
        tasks = {(t.point, t.replication): t for t in self.plan.tasks()}
        for path in sorted(out.glob("points/*/rep-*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue  # cannot happen with atomic writes; rerun it if it does
            if not isinstance(record, dict) or record.get("status") not in ("ok", "error"):
                continue  # not a record: rerun it
            task = tasks.get((path.parent.name, record.get("replication")))
            # A record without a key (older versions) is trusted on its seed only under a matching manifest.
            if task is None or record.get("point") != task.point or (
                record.get("key", None if manifest is None else task.key()) != task.key()
                or record.get("seed") != task.seed
            ):
                raise ConfigError(
                    f"error: {path}: --resume: this run was recorded for another config, grid or seed than"
                    f" the one given; nothing was changed; resume it with: {resume_command(out)}")
            if record["status"] == "ok" and not isinstance(record.get("metrics"), dict):
                continue  # damaged: rerun it
            self.records[(task.point, task.replication)] = record

    # -- recording -------------------------------------------------------------

    def pending(self, tasks: list[Task]) -> list[Task]:
        """The tasks without an ``ok`` record (failed runs are retried)."""
        return [t for t in tasks if self.records.get((t.point, t.replication), {}).get("status") != "ok"]

    def record(self, record: dict[str, Any]) -> None:
        """Keep a finished run (atomically on disk first), then refresh the tables if due."""
        key = (record["point"], record["replication"])
        if self.out is not None:
            path = self.out / "points" / key[0] / f"rep-{key[1]:03d}.json"
            self._write(path, strict_json.dumps(record, indent=1) + "\n")
        self.records[key] = record
        self._dirty.add(key[0])
        self._stale.add(key[0])
        self.refresh()

    def refresh(self, force: bool = False, status: str | None = None) -> None:
        """Rewrite manifest and tables if a second has passed (or ``force``)."""
        if status is not None:
            self.status = status
        if self.out is None:
            return
        now = time.monotonic()
        if not force and now - self._last_refresh < self.refresh_every:
            return
        self._last_refresh = now
        runs, summary = self.rows(), self.summary_rows()
        self._write(self.out / "runs.csv", csv_text(runs, self.run_columns()))
        self._write(self.out / "summary.csv", csv_text(summary, self.summary_columns()))
        for row in summary:
            if force or row["point"] in self._dirty:  # not every point every second
                self._write_point_summary(row)
        self._dirty.clear()
        self.write_manifest()

    def write_manifest(self, status: str | None = None) -> None:
        """Rewrite the manifest alone (small: after a write failure it may still fit)."""
        if status is not None:
            self.status = status
        if self.out is not None:
            self._write(self.out / MANIFEST, strict_json.dumps(self.manifest(), indent=1, default=str) + "\n")

    def _write_point_summary(self, row: dict[str, Any]) -> None:
        assert self.out is not None
        metrics = {
            m: {"mean": _json_number(row[m]), "ci95": _json_number(row[f"{m}.ci95"])}
            for m in row
            if f"{m}.ci95" in row
        }
        data = {"point": row["point"], "values": self._index[row["point"]].values,
                "replications": row["replications"], "failed": row["failed"], "metrics": metrics}
        text = strict_json.dumps(data, indent=1, default=str)
        self._write(self.out / "points" / row["point"] / "summary.json", text + "\n")

    # -- tables ----------------------------------------------------------------

    def metric_names(self) -> list[str]:
        """Every metric seen, in the order the runs report them."""
        names: dict[str, None] = {}
        for record in self._ordered_records():
            for name in record.get("metrics") or {}:
                names.setdefault(name, None)
        return list(names)

    def _ordered_records(self) -> list[dict[str, Any]]:
        out = []
        for point in self.plan.points:
            for r in range(self.plan.replications):
                record = self.records.get((point.id, r))
                if record is not None:
                    out.append(record)
        return out

    def run_columns(self) -> list[str]:
        """The columns of `runs.csv`."""
        return ["point", *self.plan.grid, "replication", "seed", "status", *self.metric_names(), "error"]

    def summary_columns(self) -> list[str]:
        """The columns of `summary.csv`: each metric's mean and `.ci95`."""
        metrics = [c for m in self.metric_names() for c in (m, f"{m}.ci95")]
        return ["point", *self.plan.grid, "replications", "failed", *metrics]

    def rows(self) -> list[dict[str, Any]]:
        """The runs table: one dict per recorded run, grid order then replication."""
        out = []
        for record in self._ordered_records():
            point = self._index[record["point"]]
            row: dict[str, Any] = {"point": point.id, **point.values}
            row.update(replication=record["replication"], seed=record["seed"], status=record["status"])
            row.update(record.get("metrics") or {})
            if record.get("error"):
                row["error"] = record["error"]
            out.append(row)
        return out

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per point with at least one record: means and 95 % half-widths.

        Rows are cached per point and recomputed only when the point got a new
        record: refreshing a large sweep stays cheap.
        """
        out = []
        for point in self.plan.points:
            if point.id in self._stale or point.id not in self._rows:
                self._rows[point.id] = self._summary_row(point)
            if self._rows[point.id] is not None:
                out.append(self._rows[point.id])
        self._stale.clear()
        return out

    def _summary_row(self, point) -> dict[str, Any] | None:
        recs = [self.records.get((point.id, r)) for r in range(self.plan.replications)]
        ok = [r for r in recs if r is not None and r["status"] == "ok"]
        failed = sum(1 for r in recs if r is not None and r["status"] != "ok")
        if not ok and not failed:
            return None
        row: dict[str, Any] = {"point": point.id, **point.values, "replications": len(ok), "failed": failed}
        names = dict.fromkeys(name for r in ok for name in r["metrics"])
        for name in names:
            values = [r["metrics"][name] for r in ok if name in r["metrics"]]
            row[name], row[f"{name}.ci95"] = mean_ci95(values)
        return row

    def counts(self) -> dict[str, int]:
        """Runs and points done, failed and pending, for the manifest and the closing line."""
        reps = self.plan.replications
        done = sum(1 for r in self.records.values() if r["status"] == "ok")
        failed = sum(1 for r in self.records.values() if r["status"] != "ok")
        points_ok = points_failed = 0
        for point in self.plan.points:
            recs = [self.records.get((point.id, r)) for r in range(reps)]
            if any(r is not None and r["status"] != "ok" for r in recs):
                points_failed += 1
            elif all(r is not None for r in recs):
                points_ok += 1
        return {
            "points": len(self.plan.points), "points_ok": points_ok, "points_failed": points_failed,
            "runs": len(self.plan.points) * reps, "runs_ok": done, "runs_failed": failed,
        }

    def manifest(self) -> dict[str, Any]:
        """The sweep's manifest: invocation, axes, points with their status, counts."""
        points = []
        for point in self.plan.points:
            recs = {r: self.records.get((point.id, r)) for r in range(self.plan.replications)}
            ok = [r for r, rec in recs.items() if rec is not None and rec["status"] == "ok"]
            errors = {str(r): rec["error"] for r, rec in recs.items() if rec is not None and rec["status"] != "ok"}
            status = "failed" if errors else "ok" if len(ok) == len(recs) else "partial" if ok else "pending"
            points.append({"id": point.id, "values": point.values, "status": status,
                           "replications_done": ok, "errors": errors})
        exp = self.plan.experiment
        return {
            "kind": "notifysim-sweep", "format": 1, "status": self.status,
            "experiment": exp.name, "description": exp.description, "source": self.plan.source,
            "created": self.created, "updated": _now(), "fingerprint": self.plan.fingerprint(),
            "code": self.code if self.code[-1:] == [code_fingerprint()] else [*self.code, code_fingerprint()],
            "axes": self.plan.grid, "replications": self.plan.replications,
            "seed": exp.seed, "seed_rule": "SeedSequence([experiment.seed, sha256(resolved [clients] and [workload] of the point), replication])",
            "invocation": self.invocation, "counts": self.counts(), "points": points,
        }
