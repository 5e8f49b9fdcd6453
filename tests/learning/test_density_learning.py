"""The density task learns: each implementation, trained on the synthetic set of
`synthetic_density.py` (preprocessed with its target maps), scores a held-out NMSE well
below the training-mean-map baseline that the run logs. It fails when targets and inputs
fall out of step (preprocessing, loaders, channel order), or when the loss, the metric or
the baseline break."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemdl.cli import main
from stemdl.common.run.results import RunResult
from tests.learning.synthetic_density import write_synthetic_density

pytestmark = pytest.mark.slow

# held-out NMSE at most this share of the baseline in one of the last 2 epochs; measured on
# the 2-core development machine: see each test
RATIO = 0.5


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("density-learning")
    raw = write_synthetic_density(root / "raw")
    assert main(["preprocess", str(raw), str(root / "packed"), "--format", "packed", "--size",
                 "32", "--no-progress"]) == 0
    return root / "packed"


def _check(run_dir: Path) -> list[float]:
    result = RunResult.read(run_dir)
    nmse = result.curve()
    baseline = result.baseline["nmse"]
    assert 0.9 < baseline < 1.1  # random structures: their mean map explains almost nothing
    assert min(nmse[-2:]) <= RATIO * baseline, (nmse, baseline)
    log = (run_dir / "mlperf.log").read_text()
    assert '"key": "stemdl_baseline_nmse"' in log
    return nmse


def test_stfc_learns_held_out_maps(data, tmp_path):
    run_dir = tmp_path / "stfc"
    assert main(["train", "stfc", f"data_dir={data}", f"run_dir={run_dir}", "task=density",
                 "epochs=6", "seed=3", "num_workers=0", "progress=false", "tensorboard=false",
                 "deterministic=true"]) == 0
    _check(run_dir)


def test_ornl_learns_held_out_maps(data, tmp_path):
    run_dir = tmp_path / "ornl"
    assert main(["train", "ornl", "--data-dir", str(data), "--run-dir", str(run_dir),
                 "task=density", "epochs=6", "seed=3", "deterministic=true",
                 "num_workers=1"]) == 0
    _check(run_dir)
