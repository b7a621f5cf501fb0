"""One executor for batches of independent runs: sweeps, ``sim plan`` and ``sim validate``.

:func:`run_all` calls ``func(item)`` for every item in this process, on a
local process pool or on a Dask cluster, and hands each outcome to the
caller *in the calling thread* as it finishes.  The same rules hold whatever
the backend:

- **Ctrl-C / SIGTERM**: the caller alone handles it.  Pool workers ignore
  SIGINT; on KeyboardInterrupt the pending work is cancelled, running
  workers are terminated at once and KeyboardInterrupt propagates.
- **Per-run errors**: ``func`` is expected to return its own errors as data.
  A worker that dies under a run (killed, out of memory; Dask's
  ``KilledWorker``) is reported for that item through ``on_lost(item,
  reason)``; the other items go on.
- **Lost infrastructure**: a Dask scheduler that goes away raises
  :class:`SchedulerLost` (one line for the user); what finished was already
  handed over.
- **No orphans**: a pool worker exits when its parent dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from simulator.config import ConfigError

Item = TypeVar("Item")

#: How often a pool worker checks that its parent is still alive (where prctl is missing).
PARENT_POLL_SECONDS = 0.5


class SchedulerLost(RuntimeError):
    """The Dask scheduler went away (or cancelled our work) before every run finished."""


def default_workers() -> int:
    """Every core this process may run on (the affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_all(
    func: Callable[[Item], Any],
    items: Sequence[Item],
    on_result: Callable[[Item, Any], None],
    *,
    workers: int = 1,
    scheduler: Any = None,
    on_lost: Callable[[Item, str], None] | None = None,
    keys: Sequence[str] | None = None,
) -> None:
    """Run ``func(item)`` for each item; ``on_result(item, value)`` as each finishes.

    ``workers`` <= 1 (or a single item) runs in this process; more uses a
    process pool of ``min(workers, len(items))``; ``scheduler`` (an address,
    a ``LocalCluster`` or a ``distributed.Client``) runs on Dask, with
    ``keys`` as the Dask task keys.  A worker lost under an item is passed to
    ``on_lost(item, reason)`` (without it, :class:`WorkerLost` is raised).
    Items are submitted in the order given: put the longest first.
    """
    if not items:
        return
    lost = on_lost or _raise_lost
    if scheduler is not None:
        _run_dask(func, items, on_result, lost, scheduler, keys)
    elif workers <= 1 or len(items) == 1:
        for item in items:
            on_result(item, func(item))
    else:
        _run_pool(func, items, on_result, lost, min(workers, len(items)))


class WorkerLost(RuntimeError):
    """A worker died under a run and the caller gave no ``on_lost``."""


def _raise_lost(item: Any, reason: str) -> None:
    raise WorkerLost(reason)


# ---------------------------------------------------------------------------
# Process pool


def _worker_init(parent_pid: int) -> None:
    # Ctrl-C goes to the whole process group: the parent alone handles it (it
    # records what finished, then terminates the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (fork inherits it)
    _exit_with_parent(parent_pid)


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker when its parent dies, even by SIGKILL (no orphan finishing runs for nobody)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)

    def watch() -> None:
        while not stop.wait(PARENT_POLL_SECONDS):
            if os.getppid() != parent_pid:
                os._exit(1)

    stop = threading.Event()
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def completed(futures: Iterable[Any], poll: float = 0.2):
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


def _run_pool(func, items, on_result, on_lost, workers: int) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),))
    futures = {pool.submit(func, item): item for item in items}
    try:
        for future in completed(futures):
            item = futures[future]
            try:
                value = future.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                on_lost(item, f"worker process died: {exc}")
                continue
            on_result(item, value)
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


# ---------------------------------------------------------------------------
# Dask


def connect(scheduler: Any) -> tuple[Any, bool]:
    """A Dask client for an address, a LocalCluster or a Client: ``(client, we_own_it)``.

    A malformed or unreachable address is bad input (:class:`ConfigError`).
    """
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
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"error: --scheduler {address}: cannot connect: {reason}") from None


def _scheduler_gone(exc: BaseException) -> bool:
    """Errors that mean the cluster, not one run, failed: cancelled futures, a closed comm."""
    from concurrent.futures import CancelledError

    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, CancelledError | OSError | TimeoutError) or bool(
        names & {"FutureCancelledError", "CancelledError", "CommClosedError", "CommError"}
    )


def _run_dask(func, items, on_result, on_lost, scheduler: Any, keys: Sequence[str] | None) -> None:
    client, own = connect(scheduler)
    try:
        futures = client.map(func, items, key=list(keys) if keys is not None else None, pure=False)
        index = {future.key: item for future, item in zip(futures, items, strict=True)}
        try:
            for future in completed(futures):
                item = index[future.key]
                try:
                    value = future.result()
                except Exception as exc:
                    if _scheduler_gone(exc):
                        raise SchedulerLost(f"the Dask scheduler was lost: {type(exc).__name__}: {exc}") from None
                    # KilledWorker and the like: this run's worker died, not the cluster
                    on_lost(item, f"Dask worker lost: {type(exc).__name__}: {exc}")
                    continue
                on_result(item, value)
                future.release()
        except BaseException:
            try:
                client.cancel(futures)
            except Exception:  # the scheduler may be the thing that is gone
                pass
            raise
    finally:
        if own:
            client.close()
