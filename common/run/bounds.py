"""Bounds on user-set process and worker counts: a clear error instead of an unbounded fork.

One limit for every worker count (trainer DataLoader / tf.data workers, the `--workers`
of preprocess/simulate/evaluate, processes per node): 4 x the CPU cores of this machine,
at least 8. Above it a count can only oversubscribe the machine (a typo such as
num_workers=100000 once forked until the machine stalled).
"""

from __future__ import annotations

import os

from stemdl.common.cli.errors import StemdlError

MIN_LIMIT = 8
PER_CORE = 4


def worker_limit() -> int:
    """The largest worker/process count accepted on this machine."""
    return max(MIN_LIMIT, PER_CORE * (os.cpu_count() or 1))


def check_workers(key: str, value: int | None, minimum: int = 0) -> None:
    """A one-line error (exit 2) when a worker count is below `minimum` or above the limit."""
    if value is None:
        return
    if value < minimum:
        raise StemdlError(f"{key}: must be >= {minimum}, got {value}")
    limit = worker_limit()
    if value > limit:
        raise StemdlError(
            f"{key}: {value} is above the limit of {limit} on this machine "
            f"({PER_CORE} x {os.cpu_count() or 1} CPU cores, at least {MIN_LIMIT})"
        )
