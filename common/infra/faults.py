"""Test-only fault injection: a real signal to this process at a reproducible point of a
training run, right after epoch N's checkpoint is written (the resume tests).

STEMDL_FAULT_KILL_AFTER_EPOCH=N picks the epoch; STEMDL_FAULT_SIGNAL picks the signal:
KILL (default: a node failure), TERM (a batch system's stop) or INT (Ctrl-C). Unset, it
does nothing.
"""

from __future__ import annotations

import os
import signal

KILL_AFTER_EPOCH_ENV = "STEMDL_FAULT_KILL_AFTER_EPOCH"
SIGNAL_ENV = "STEMDL_FAULT_SIGNAL"
SIGNALS = ("KILL", "TERM", "INT")


def fault_after_epoch(epoch: int) -> None:
    """Signal this process if the environment asks for it after epoch `epoch` (from 1)."""
    wanted = os.environ.get(KILL_AFTER_EPOCH_ENV, "")
    if not wanted or int(wanted) != int(epoch):
        return
    name = os.environ.get(SIGNAL_ENV, "KILL").upper()
    if name not in SIGNALS:
        raise ValueError(f"{SIGNAL_ENV}: one of {', '.join(SIGNALS)}, got {name!r}")
    os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
