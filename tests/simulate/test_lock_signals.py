"""Two writers of one folder, and SIGTERM with worker processes (issue 13 items 1 and 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from stemdl.cli import main
from stemdl.common.infra.lock import locked_folder
from tests.faults.procs import alive, descendants

SMALL_ARGS = ["--space-groups", "225,227", "--energies", "1", "--size", "32"]



def test_second_simulate_on_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    with locked_folder(out, "stemdl simulate (first)"):
        code = main(["simulate", str(out), *SMALL_ARGS])
    err = capsys.readouterr().err
    assert code == 2
    assert "in use by another writer" in err and "stemdl simulate (first)" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not list(out.glob("batch_*"))


def test_sigterm_stops_the_workers_and_exits_143(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stemdl", "simulate", str(out), "--preset", "tiny", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = descendants(proc.pid)
        time.sleep(0.2)
    assert len(workers) >= 2, "the worker pool never started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    time.sleep(0.5)
    assert not [w for w in workers if alive(w)], "worker processes outlived the command"
    assert not (out / ".stemdl-lock").exists()  # the lock went with it
