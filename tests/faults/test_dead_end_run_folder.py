"""A run stopped before its first checkpoint leaves no dead end (issue 26 item 7): a rerun,
or a --resume, starts it over with a note, keeping its outputs in earlier-1/; another
implementation's run, a successful one or one with a checkpoint is still refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.stfc.conftest import write_separable

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FRAMEWORK = {"stfc": "pytorch_lightning", "ornl": "tensorflow"}


def train(impl: str, data: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [f"data_dir={data}", f"run_dir={run_dir}", "resnet=18", "division=open",
            "batch_size=2", "epochs=1", "num_workers=0"]
    args += ["progress=false", "tensorboard=false"] if impl == "stfc" else ["warmup_epochs=0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("STEMDL_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "stemdl", "train", impl, *args, *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("again", ["rerun", "--resume"])
@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_a_run_stopped_before_its_first_checkpoint_starts_over(impl, again, tmp_path):
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra (make test installs it)")
    data = write_separable(tmp_path / "data", {"training": 8, "validation": 4}, size=16)
    bad = data / "training" / "sample-5.npz"
    good = dict(np.load(bad))
    broken = {**good, "data": np.full_like(good["data"], np.nan)}
    np.savez(bad, **broken)
    run_dir = tmp_path / "run"
    first = train(impl, data, run_dir)
    assert first.returncode == 2, first.stderr[-2000:]
    earlier = json.loads((run_dir / "results.json").read_text())
    assert earlier["status"] == "aborted"
    np.savez(bad, **good)  # the user fixes the data and runs the same command again
    second = train(impl, data, run_dir, *([again] if again == "--resume" else []))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "stopped before its first checkpoint (status aborted)" in second.stderr
    kept = run_dir / "earlier-1"
    assert json.loads((kept / "results.json").read_text())["created"] == earlier["created"]
    assert (kept / "mlperf.log").is_file()
    log = (run_dir / "mlperf.log").read_text()
    assert log.count('"key": "run_start"') == 1 and log.count('"key": "run_stop"') == 1
    assert json.loads((run_dir / "results.json").read_text())["epochs"][0]["epoch"] == 1
    # the run now has a checkpoint: a third plain run is refused, as any earlier run is
    third = train(impl, data, run_dir)
    assert third.returncode == 2 and "holds an earlier run (a checkpoint" in third.stderr


def test_another_implementations_run_is_not_started_over(tmp_path):
    pytest.importorskip("pytorch_lightning", reason="the stfc extra (make test installs it)")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps({"implementation": "ornl",
                                                      "status": "aborted"}))
    data = write_separable(tmp_path / "data", {"training": 8, "validation": 4}, size=16)
    proc = train("stfc", data, run_dir)
    assert proc.returncode == 2 and "holds an earlier run (results.json)" in proc.stderr
    assert not (run_dir / "earlier-1").exists()
