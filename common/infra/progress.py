"""Progress for long work: a tqdm bar on a terminal, plain lines in a batch job's log.

Under SLURM/LSF stderr is a file, where tqdm is either silent (disable=None) or writes
carriage-return redraws; `LineProgress` (hand-written: tqdm has no line mode) prints one
line every STEMDL_PROGRESS_INTERVAL seconds (default 30) with the rate and an ETA.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

INTERVAL_ENV = "STEMDL_PROGRESS_INTERVAL"


class LineProgress:
    """The part of tqdm's interface the project uses, as periodic plain lines."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0,
                 interval: float | None = None, file: TextIO | None = None) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self._start_n = initial
        self.interval = float(os.environ.get(INTERVAL_ENV, "30")) if interval is None else interval
        self.file = file or sys.stderr
        self._start = self._last = time.monotonic()
        self._postfix = ""
        self._printed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._print(now)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        del refresh
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """A last line, only for work long enough to have printed one already."""
        if self._printed:
            self._print(time.monotonic())
            self._printed = False

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        elapsed = now - self._start
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total is not None else ""
        parts = [f"{self.desc}: {self.n}{of} {self.unit}s", f"{rate:.3g} {self.unit}s/s",
                 f"elapsed {_hms(elapsed)}"]
        if self.total is not None and rate > 0 and self.n < self.total:
            parts.append(f"ETA {_hms((self.total - self.n) / rate)}")
        if self._postfix:
            parts.append(self._postfix)
        return ", ".join(parts)

    def _print(self, now: float) -> None:
        print(time.strftime("%H:%M:%S ") + self.line(now), file=self.file, flush=True)
        self._printed = True


def progress(total: int | None, desc: str, unit: str = "it", initial: int = 0,
             enabled: bool | None = None, **tqdm_kwargs: Any):
    """A progress object with tqdm's update/set_postfix/close. `enabled`: None = a tqdm bar
    on a terminal and plain lines otherwise; False = nothing; True = a bar."""
    from tqdm import tqdm

    if enabled is False:
        return tqdm(total=total, disable=True)
    if enabled is None and not sys.stderr.isatty():
        return LineProgress(total, desc, unit, initial=initial)
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr,
                dynamic_ncols=True, **tqdm_kwargs)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
