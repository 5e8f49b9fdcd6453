"""Faults every run must survive, tested once for every task and both implementations: a
second copy of a run is refused while the first holds the folder, and SIGTERM (scancel,
timeout, docker stop) ends the run honestly: exit 143, one line, no child left, the log and
results.json both `aborted`, the lock released."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stemdl.common.run.results import RunResult
from tests.contract.conftest import CASES, FRAMEWORK, write_split
from tests.faults.procs import alive, descendants, run_stemdl, run_stops, stemdl, wait_for
from tests.ornl.memreader import MemoryReader

pytestmark = [pytest.mark.slow, pytest.mark.parametrize(("task", "impl"), CASES)]


@pytest.fixture(scope="module")
def long_data(tmp_path_factory) -> Path:
    """training (160: 20 steps of 8 an epoch) and validation (12): a run still training when
    it is stopped."""
    root = tmp_path_factory.mktemp("contract-long")
    write_split(root / "training", MemoryReader(160, seed=0))
    write_split(root / "validation", MemoryReader(12, seed=1, split="val"))
    return root


def _args(task: str, impl: str, data: Path, run_dir: Path) -> list[str]:
    # the density U-Net trains an epoch of these in under a second: many more epochs, so
    # that the run is still training when the test stops it
    model = ["resnet=18", "epochs=4"] if task == "classify" else ["epochs=1000"]
    common = [f"task={task}", *model, "batch_size=8", "num_workers=1"]
    if impl == "stfc":
        return ["train", "stfc", f"data_dir={data}", f"run_dir={run_dir}", *common,
                "division=open", "progress=false", "tensorboard=false"]
    return ["train", "ornl", "--data-dir", str(data), "--run-dir", str(run_dir), *common,
            "warmup_epochs=1"]


def test_a_second_copy_is_refused_and_sigterm_ends_the_run_as_aborted(task, impl, long_data,
                                                                        tmp_path):
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra (make test installs it)")
    run_dir = tmp_path / "run"
    args = _args(task, impl, long_data, run_dir)
    first = stemdl(args)
    wait_for(lambda: (run_dir / ".stemdl-lock").exists(), first, 300, "the run folder's lock")

    second = run_stemdl(args, timeout=300)  # a second terminal, a requeue racing the job
    errors = [line for line in second.stderr.splitlines() if line.startswith("stemdl: error:")]
    assert second.returncode == 2 and len(errors) == 1, second.stderr
    assert "in use by another writer" in errors[0] and f"pid {first.pid}" in errors[0]
    assert f"stemdl train {impl}" in errors[0] and "Traceback" not in second.stderr

    log = run_dir / "mlperf.log"
    wait_for(lambda: log.exists() and '"key": "epoch_start"' in log.read_text(), first, 600,
             "the first epoch")
    children = descendants(first.pid)  # STFC: its DataLoader worker
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "stemdl: stopped by SIGTERM" in err and "Traceback" not in err
    assert not [c for c in children if alive(c)], "a child process outlived the command"
    result = RunResult.read(run_dir)
    assert result.status == "aborted" and result.stop_reason == "stopped by SIGTERM"
    epochs = int(next(a for a in args if a.startswith("epochs=")).split("=")[1])
    assert result.task == task and len(result.epochs) < epochs
    assert run_stops(log) == ["aborted"]
    assert not (run_dir / ".stemdl-lock").exists()
