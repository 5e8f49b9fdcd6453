"""A finished ORNL run exits promptly (issue 25 item 2): within 2 s of writing results.json,
in every one of STEMDL_EXIT_RUNS runs (default 3 in make test; docs/BENCH.md reports 10).

The cause of the 1.4 to 4 s it took: the interpreter's final garbage collection ran the
finalizers of every traced TensorFlow function and tf.data iterator of the finished run;
the command now freezes its objects before it exits (common/cli/entry.freeze_for_exit),
after everything is written. Each run's outputs are checked whole, so nothing the exit
skipped was still to be written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.faults.procs import REPO, env, log_events
from tests.stfc.conftest import write_separable

pytestmark = pytest.mark.slow
RUNS = int(os.environ.get("STEMDL_EXIT_RUNS", "3"))
# the issue asks 2 s; before the fix this very run took 1.4 to 4 s, so 1 s is what tells them apart
LIMIT_S = 1.0


@pytest.mark.parametrize("n", range(RUNS))
def test_a_finished_ornl_run_exits_within_2_s_of_its_results(n, tmp_path):
    pytest.importorskip("tensorflow", reason="the ornl extra (make test installs tensorflow-cpu)")
    data = write_separable(tmp_path / "data", {"training": 16, "validation": 8}, size=16)
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "stemdl", "train", "ornl", "--data-dir", str(data), "--run-dir",
         str(run_dir), "resnet=18", "batch_size=4", "epochs=1", "warmup_epochs=1", "seed=" + str(n)],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=600)
    exited = time.time()
    assert proc.returncode == 0, proc.stderr[-3000:]
    gap = exited - (run_dir / "results.json").stat().st_mtime
    assert gap < LIMIT_S, f"exit {gap:.2f} s after results.json"
    keys = [e["key"] for e in log_events(run_dir / "mlperf.log")]
    assert keys[-2:] == ["run_stop", "result"]
    assert (run_dir / "system.json").stat().st_size > 0
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and all(p.stat().st_size > 0 for p in events)
