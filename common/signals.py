"""SIGTERM and SIGINT as exceptions, so every command unwinds, stops its workers and
records how it ended instead of dying where it stands.

A batch system stops a job with SIGTERM (`scancel`, `timeout`, `docker stop`); Python's
default for SIGTERM is to die at once, skipping every `finally`. `terminate_on_signals`
turns it into `Terminated`, a BaseException (like KeyboardInterrupt) that the command
line maps to exit code 128 + signal number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(BaseException):
    """The process was asked to stop by a signal; `exit_code` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, _frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_on_signals(signals: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """Within the block, `signals` raise Terminated in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def ignore_interrupts() -> None:
    """Worker-process initializer: leave SIGINT/SIGTERM to the parent, which stops the pool
    (a terminal's Ctrl-C reaches every process of the group; workers must not print
    tracebacks of their own)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def signals_deferred(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold `signals` back during a short critical step (taking or releasing a lock), so a
    second Ctrl-C or a batch system's SIGTERM arriving mid-step cannot leave it half done;
    they are delivered as soon as the step ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
