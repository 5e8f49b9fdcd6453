"""Worker processes that never outlive their command.

`ordered_map` runs a function over items in a pool of worker processes and yields the
results (in order, or as they finish). If anything stops the parent (an error, Ctrl-C, SIGTERM turned into
`Terminated`), the pool is terminated before the exception goes on: no worker is left
running (each can hold hundreds of MB) after the command has ended.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from stemdl.common.infra.signals import ignore_interrupts, signals_deferred

T = TypeVar("T")
R = TypeVar("R")

# One thread per worker process (abTEM, numpy): N processes x N threads would oversubscribe.
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def ordered_map(func: Callable[[T], R], items: Iterable[T], workers: int, *,
                ordered: bool = True, start_method: str = "spawn") -> Iterator[R]:
    """func(item) for each item, computed by `workers` processes; in the items' order, or
    (ordered=False) as they finish. "spawn" by default (libraries with threads, such as
    abTEM's FFTW, are not fork-safe); "fork" starts faster for plain numpy/h5py work."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield func(item)
        return
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)),
                               mp_context=multiprocessing.get_context(start_method),
                               initializer=ignore_interrupts)
    try:
        futures = [pool.submit(func, item) for item in items]
        for future in futures if ordered else as_completed(futures):
            yield future.result()
    except BaseException:
        # multiprocessing.Pool.terminate() can deadlock on a queue lock held by an idle
        # worker; killing the workers of a ProcessPoolExecutor cannot (it sees them die)
        with signals_deferred():  # a second signal must not cut this short
            _kill_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker of `pool` now (the executor has no public call for it before
    Python 3.14's terminate_workers)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.terminate()


def stop_child(proc: subprocess.Popen, grace_s: float = 30.0) -> int:
    """Stop a child command the way a batch system would: SIGTERM, so it stops its own
    workers and records how it ended, then SIGKILL if it is still there after `grace_s`.
    Returns its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
