"""Process helpers for the fault tests: start a command, find its descendants, wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    for key in ("STEMDL_RUN_DIR", "SLURM_JOB_ID", "LSB_JOBID", "TF_CPP_MIN_LOG_LEVEL"):
        out.pop(key, None)
    return out


def as_terminal_job() -> None:
    """Child setup: SIGINT at its default, as in a terminal's foreground job. A command
    started with `&` by a non-interactive shell (a CI runner, `make test &`) inherits SIGINT
    ignored, Python then keeps it ignored, and a Ctrl-C test would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stemdl(args: list[str], **kw) -> subprocess.Popen:
    """`python -m stemdl ARGS` in the background, output captured, SIGINT as in a terminal."""
    return subprocess.Popen([sys.executable, "-m", "stemdl", *args], cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_terminal_job, **kw)


def run_stemdl(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stemdl", *args], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=as_terminal_job)


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children, grandchildren, ...)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        path = Path(f"/proc/{p}/task/{p}/children")
        try:
            kids = [int(c) for c in path.read_text().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return [k for k in found if alive(k)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(check: Callable[[], bool], proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll `check` until true; fail with the command's output if it ended or timed out."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ended (exit {proc.returncode}) before {what}:\n{out}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def epochs_recorded(run_dir: Path) -> int:
    try:
        return len(json.loads((run_dir / "results.json").read_text())["epochs"])
    except (OSError, ValueError, KeyError):
        return 0


def log_events(log: Path) -> list[dict]:
    return [json.loads(line[len(":::MLLOG "):]) for line in log.read_text().splitlines()
            if line.startswith(":::MLLOG ")]


def run_stops(log: Path) -> list[str]:
    return [e["metadata"]["status"] for e in log_events(log) if e["key"] == "run_stop"]
