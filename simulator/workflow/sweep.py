"""Running a sweep's tasks: in-process, on a process pool, or on a Dask cluster.

Whatever the executor, each task is the same pure function of its config and
seed (:func:`simulator.workflow.grid.run_task`) and the parent records results keyed
by (point, replication), so the tables are identical to the last digit for 1
worker, N workers or Dask; only the order in which runs finish differs.

Two runs with the same resolved config and seed (say an SSE point swept over a
polling interval SSE does not have) are run once and recorded for both.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config import ConfigError, ExperimentConfig
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
    plan: Plan
    store: SweepStore
    ran: int  # runs executed by this call
    skipped: int  # runs already recorded ok (--resume)
    wall_seconds: float
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.counts.get("runs_failed", 0) > 0


def default_workers() -> int:
    """Every core this process may run on (the affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_sweep(
    plan: Plan,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Run the plan's missing runs, recording each as it finishes; Ctrl-C keeps what finished.

    Ctrl-C and SIGTERM stop the sweep (``outcome.interrupted``) but never in
    the middle of recording a run: they are held back until the record and
    the tables are written, so the folder is always consistent.
    """
    started = time.perf_counter()
    if scheduler is not None and not hasattr(scheduler, "submit"):
        # Connect before touching the folder: a wrong address is bad input, not a failed sweep.
        scheduler, own = connect(scheduler)
        try:
            return run_sweep(plan, out, workers, scheduler, resume, force, progress)
        finally:
            if own:
                scheduler.close()
    guard = _InterruptGuard()
    with guard.installed():
        with guard.critical(deliver=False):  # an interrupt here is delivered just below
            store = SweepStore(plan, out, resume=resume, force=force)
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
        finally:
            store.close()
    return SweepOutcome(plan, store, state.ran, len(tasks) - len(todo),
                        time.perf_counter() - started, interrupted, counts)


def check_sweep_fits(plan: Plan, workers: int, source: str) -> None:
    """Refuse up front a sweep whose concurrent runs would not fit in memory.

    Each point must fit on its own (:func:`simulator.engine.runner.check_fits`), and
    the ``workers`` largest points, which may run at once, together; the
    message suggests the number of workers that fits.
    """
    from simulator.engine.runner import check_fits, estimate_memory_bytes

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
# Executors


def execute(tasks: list[Task], workers: int, scheduler: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run ``tasks`` and call ``emit(record)`` in the calling thread as each finishes."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.key(), []).append(task)
    unique = [group[0] for group in groups.values()]
    # Longest first (a proxy of the cost: clients x simulated time) keeps the pool's tail short.
    unique.sort(key=lambda t: t.cost, reverse=True)

    group_of = {(t.point, t.replication): key for key, t in zip(groups, unique_first(groups), strict=True)}

    def fan_out(record: dict[str, Any]) -> None:
        for task in groups[group_of[(record["point"], record["replication"])]]:
            emit({**record, "point": task.point, "replication": task.replication})

    if not unique:
        return
    if scheduler is not None:
        _run_dask(unique, scheduler, fan_out)
    elif workers <= 1 or len(unique) == 1:
        for task in unique:
            fan_out(run_task(task))
    else:
        _run_pool(unique, min(workers, len(unique)), fan_out)


def unique_first(groups: dict[str, list[Task]]) -> list[Task]:
    return [group[0] for group in groups.values()]


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole process group: the parent alone handles it (it
    # records what finished, then terminates the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (fork inherits it)


def _completed(futures, poll: float = 0.2):
    """Futures as they finish (any future type with ``done()``), waking every ``poll``
    seconds: a signal delivered to another thread then still reaches the main
    thread's handler promptly, which a blocking wait would postpone to the next
    completion."""
    pending = list(futures)
    wake = threading.Event()
    for future in pending:
        future.add_done_callback(lambda _: wake.set())
    while pending:
        wake.wait(poll)
        wake.clear()
        still = []
        for future in pending:
            if future.done():
                yield future
            else:
                still.append(future)
        pending = still


def _run_pool(tasks: list[Task], workers: int, emit: Callable[[dict[str, Any]], None]) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    futures = {pool.submit(run_task, task): task for task in tasks}
    try:
        for future in _completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                task = futures[future]
                record = {"point": task.point, "replication": task.replication, "seed": task.seed,
                          "status": "error", "error": f"worker process died: {exc}"}
            emit(record)
    except BaseException:
        for future in futures:
            future.cancel()
        # The executor has no public terminate(): stop running workers now rather
        # than wait for their (possibly long) runs to finish.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def connect(scheduler: Any) -> tuple[Any, bool]:
    """A Dask client for an address, a LocalCluster or a Client: ``(client, we_own_it)``."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "error: --scheduler needs dask.distributed: pip install 'notifysim[dask]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    address = getattr(scheduler, "scheduler_address", scheduler)  # a LocalCluster works too
    try:
        return Client(address, timeout="10s"), True
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"error: --scheduler {address}: cannot connect: {exc}") from None


def _run_dask(tasks: list[Task], scheduler: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    client, own = connect(scheduler)
    futures = client.map(run_task, tasks, key=[f"notifysim-run-{t.key()[:24]}" for t in tasks], pure=False)
    try:
        for future in _completed(futures):
            emit(future.result())
            future.release()
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if own:
            client.close()
