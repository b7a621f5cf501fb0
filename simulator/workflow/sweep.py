"""Running a sweep's tasks: in-process, on a process pool, or on a Dask cluster.

Whatever the executor, each task is the same pure function of its config and
seed (:func:`simulator.workflow.grid.run_task`) and the parent records results keyed
by (point, replication), so the tables are identical to the last digit for 1
worker, N workers or Dask; only the order in which runs finish differs.

Two runs with the same resolved config and seed (say an SSE point swept over a
polling interval SSE does not have) are run once and recorded for both.

The executor itself (pool, Dask, Ctrl-C, lost workers) is :mod:`simulator.workflow.executor`,
shared with ``sim plan`` and ``sim validate``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config import ConfigError, ExperimentConfig
from simulator.engine.estimate import check_fits, estimate_memory_bytes
from simulator.output.atomic import WriteFailed
from simulator.workflow.executor import SchedulerLost, connect, default_workers, run_all
from simulator.workflow.grid import Plan, Task, make_plan, run_task
from simulator.workflow.store import SweepStore


@dataclass
class SweepProgress:
    """Counts for a progress display (this session's runs; points over the whole sweep)."""

    runs_total: int
    points_total: int
    runs_done: int = 0
    runs_failed: int = 0
    points_done: int = 0
    points_failed: int = 0


@dataclass
class SweepOutcome:
    """What a sweep call did: its plan, store, runs made and skipped, wall time, counts."""
    plan: Plan
    store: SweepStore
    ran: int  # runs executed by this call
    skipped: int  # runs already recorded ok (--resume)
    wall_seconds: float
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when a run of the sweep failed."""
        return self.counts.get("runs_failed", 0) > 0


def run_sweep(
    plan: Plan,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
    invocation: dict[str, Any] | None = None,
) -> SweepOutcome:
    """Run the plan's missing runs, recording each as it finishes; Ctrl-C keeps what finished.

    Ctrl-C and SIGTERM stop the sweep (``outcome.interrupted``) but never in
    the middle of recording a run: they are held back until the record and
    the tables are written, so the folder is always consistent.  A lost Dask
    scheduler (:class:`~simulator.workflow.executor.SchedulerLost`) or a failed write
    (:class:`~simulator.output.atomic.WriteFailed`) is raised after the manifest says
    so (``status`` "failed: ..."); ``--resume`` then continues.
    ``invocation`` is stored in the manifest (for ``sim sweep --resume DIR``).
    """
    started = time.perf_counter()
    if scheduler is not None and not hasattr(scheduler, "submit"):
        # Connect before touching the folder: a wrong address is bad input, not a failed sweep.
        scheduler, own = connect(scheduler)
        try:
            return run_sweep(plan, out, workers, scheduler, resume, force, progress, invocation)
        finally:
            if own:
                scheduler.close()
    guard = _InterruptGuard()
    with guard.installed():
        with guard.critical(deliver=False):  # an interrupt here is delivered just below
            store = SweepStore(plan, out, resume=resume, force=force, invocation=invocation)
            tasks = plan.tasks()
            todo = store.pending(tasks)
            state = _Tracker(plan, store, todo, progress, guard)
        interrupted = False
        try:
            try:
                guard.deliver_pending()
                execute(todo, workers or default_workers(), scheduler, state.on_result)
            except KeyboardInterrupt:
                interrupted = True
            with guard.critical(deliver=False):  # already stopping: a second Ctrl-C waits for this
                counts = store.counts()
                status = "interrupted" if interrupted else "failed" if counts["runs_failed"] else "complete"
                store.refresh(force=True, status=status)
        except (SchedulerLost, WriteFailed) as exc:
            with guard.critical(deliver=False):
                what = "write error: " if isinstance(exc, WriteFailed) else ""
                try:  # the manifest alone: small, so it may still fit on a full disk
                    store.write_manifest(status=f"failed: {what}{exc}")
                except WriteFailed:
                    pass
            raise
        finally:
            store.close()
    return SweepOutcome(plan, store, state.ran, len(tasks) - len(todo),
                        time.perf_counter() - started, interrupted, counts)


def check_sweep_fits(plan: Plan, workers: int, source: str) -> None:
    """Refuse up front a sweep whose concurrent runs would not fit in memory.

    Each point must fit on its own (:func:`simulator.engine.estimate.check_fits`), and
    the ``workers`` largest points, which may run at once, together; the
    message suggests the number of workers that fits.
    """

    for point in plan.points:
        check_fits(point.config, source)
    try:
        import psutil

        available = psutil.virtual_memory().available
    except Exception:  # psutil missing or unreadable: do not guess
        return
    runs = sorted((estimate_memory_bytes(p.config) for p in plan.points for _ in range(plan.replications)),
                  reverse=True)
    at_once = min(workers, len(runs))
    need = sum(runs[:at_once])
    if need <= available:
        return
    fits = max([k for k in range(1, at_once) if sum(runs[:k]) <= available], default=1)
    raise ConfigError(
        f"error: {source}: {at_once} workers running the largest points at once need about"
        f" {need / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB available;"
        f" use --workers {fits}"
    )


class _InterruptGuard:
    """Turns SIGINT/SIGTERM into KeyboardInterrupt, except inside ``critical()`` sections,
    where it is held back and raised as the section ends."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    def _handler(self, signum, frame) -> None:
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def critical(self, deliver: bool = True):
        """Hold interrupts back; deliver one that came meanwhile at the end (if ``deliver``)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if deliver and self.depth == 0:
                self.deliver_pending()

    def deliver_pending(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


def sweep(
    config: str | Path | ExperimentConfig | dict[str, Any] | None,
    grid: dict[str, Any] | list[str] | None = None,
    replications: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    overrides: dict[str, Any] | list[str] | None = None,
) -> list[dict[str, Any]]:
    """Run a parameter sweep and return its runs table (one dict per point and replication).

    ``grid`` adds or replaces axes of the config's ``[sweep.grid]``:
    ``{"clients.count": [100, 1000], "mechanism.kind": ["short_polling", "sse"]}``
    (or ``--set`` strings).  Each row holds ``point``, the swept keys,
    ``replication``, ``seed``, ``status`` (``ok``/``error``), every metric and,
    for a failed run, ``error``.  ``workers`` defaults to every core;
    ``scheduler`` (a ``tcp://`` address or a ``distributed.Client``) runs on Dask.
    With ``out`` the folder of ``sim sweep`` is written too (``resume``/``force``
    as on the command line); without it nothing touches the disk.
    Raises KeyboardInterrupt after recording what finished, if interrupted.
    """
    plan = make_plan(config, grid=grid, replications=replications, overrides=overrides)
    outcome = run_sweep(plan, out, workers, scheduler, resume, force)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return outcome.store.rows()


class _Tracker:
    """Records results in the store and keeps the progress counts incrementally."""

    def __init__(self, plan: Plan, store: SweepStore, todo: list[Task], progress, guard: _InterruptGuard):
        self.store = store
        self.guard = guard
        self.progress = progress
        self.ran = 0
        reps = plan.replications
        self.left = {p.id: reps for p in plan.points}
        self.bad: set[str] = set()
        for (pid, _), rec in store.records.items():
            if rec["status"] == "ok":
                self.left[pid] -= 1
        self.state = SweepProgress(len(todo), len(plan.points))
        self.state.points_done = sum(1 for v in self.left.values() if v == 0)
        self._emit()

    def on_result(self, record: dict[str, Any]) -> None:
        with self.guard.critical():
            self.store.record(record)
        self.ran += 1
        s = self.state
        s.runs_done += 1
        pid = record["point"]
        if record["status"] != "ok":
            s.runs_failed += 1
            if pid not in self.bad:
                self.bad.add(pid)
                s.points_failed += 1
        self.left[pid] -= 1
        if self.left[pid] == 0:
            s.points_done += 1
        self._emit()

    def _emit(self) -> None:
        if self.progress is not None:
            self.progress(self.state)


# ---------------------------------------------------------------------------
# Running tasks (on the one executor, simulator.workflow.executor)


def execute(tasks: list[Task], workers: int, scheduler: Any, emit: Callable[[dict[str, Any]], None],
            func: Callable[[Task], dict[str, Any]] | None = None) -> None:
    """Run ``tasks`` (each with ``func``, :func:`run_task` unless told) and call ``emit(record)``
    in the calling thread as each finishes.

    Runs with identical configs and seeds run once (their record is emitted
    for each); a worker that dies under a run gives that run an error record.
    """
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.key(), []).append(task)
    unique = [group[0] for group in groups.values()]
    # Longest first (a proxy of the cost: clients x simulated time) keeps the pool's tail short.
    unique.sort(key=lambda t: t.cost, reverse=True)

    def fan_out(task: Task, record: dict[str, Any]) -> None:
        for twin in groups[task.key()]:
            emit({**record, "point": twin.point, "replication": twin.replication})

    def lost(task: Task, reason: str) -> None:
        fan_out(task, {"point": task.point, "replication": task.replication, "seed": task.seed,
                       "key": task.key(), "status": "error", "error": reason})

    run_all(func or run_task, unique, fan_out, workers=workers, scheduler=scheduler, on_lost=lost,
            keys=[f"notifysim-run-{t.key()[:24]}" for t in unique])
