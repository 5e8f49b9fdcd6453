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
import sys
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
    tracebacks of their own). On Linux the worker also dies with its parent, however the
    parent ends (even kill -9), so no worker is ever orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent exits (prctl
    PR_SET_PDEATHSIG); a no-op elsewhere. Hand-written: the C call is one line of ctypes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def signals_deferred(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold `signals` back during a short critical step (taking or releasing a lock, stopping
    workers), so a second Ctrl-C or a batch system's SIGTERM arriving mid-step cannot leave
    it half done; they are delivered, to the handlers in force before, as the step ends.

    Python-level handlers are swapped, not the thread's signal mask: the kernel may hand a
    process signal to any thread (a pool's helper threads), which a mask on the main
    thread would not stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: pending.append(signum))
                for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in pending:
            signal.raise_signal(signum)


_stop_requested: list[int] = []  # signals held for the next `raise_if_stopped`


def _stop(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def raise_if_stopped() -> None:
    """Raise the stop a signal asked for under `signals_at_safe_points` (a no-op otherwise)."""
    if _stop_requested:
        raise _stop(_stop_requested[0])


@contextlib.contextmanager
def signals_at_safe_points(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block a first `signals` is only recorded; the loop raises it at its next
    `raise_if_stopped()` (between steps), or the block at its end. A second one raises at
    once, wherever the process is.

    For loops inside a library that calls back into Python: an exception raised by a signal
    handler there can be swallowed. TensorFlow did: a SIGTERM that landed in its `nest`
    code came out as a printed SystemError, and the run trained on to the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def record(signum: int, _frame: object) -> None:
        if _stop_requested:
            raise _stop(signum)
        _stop_requested.append(signum)

    previous = {s: signal.signal(s, record) for s in signals}
    try:
        yield
        raise_if_stopped()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_requested.clear()
