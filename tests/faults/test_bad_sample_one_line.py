"""A bad training sample (NaN, another shape, string data) ends a run with one line naming
its file, exit 2, and the run recorded as aborted, in both implementations (issue 26 item
4: ORNL gave an 88-line TensorFlow traceback, exit 1, for the error raised inside its
tf.data map function)."""

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


def corrupt(path: Path, how: str) -> None:
    saved = dict(np.load(path))
    if how == "nan":
        saved["data"] = saved["data"].copy()
        saved["data"][0, 0, 0] = np.nan
    elif how == "shape":
        saved["data"] = saved["data"][:, :8, :8].copy()
    else:  # string data
        saved["data"] = np.array(["not", "a", "stack"])
    np.savez(path, **saved)


@pytest.mark.parametrize("how", ["nan", "shape", "string"])
@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_bad_training_sample_is_one_line(impl, how, tmp_path):
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra (make test installs it)")
    data = write_separable(tmp_path / "data", {"training": 8, "validation": 4}, size=16)
    bad = data / "training" / "sample-5.npz"
    corrupt(bad, how)
    run_dir = tmp_path / "run"
    args = [f"data_dir={data}", f"run_dir={run_dir}", "resnet=18", "division=open",
            "batch_size=2", "epochs=1", "num_workers=0"]
    args += ["progress=false", "tensorboard=false"] if impl == "stfc" else ["warmup_epochs=0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("STEMDL_RUN_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "stemdl", "train", impl, *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stemdl: error:")]
    assert len(errors) == 1 and "sample-5.npz" in errors[0], proc.stderr[-3000:]
    if (run_dir / "results.json").exists():  # a check before the run started writes none
        assert json.loads((run_dir / "results.json").read_text())["status"] == "aborted"
