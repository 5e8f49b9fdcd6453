"""A resumed run equals an uninterrupted one (issue 26 item 1), whatever stopped it and
however many loader workers it has: each run is signalled right after epoch 1's
checkpoint (SIGKILL, SIGTERM or SIGINT, common/infra/faults.py), resumed with --resume,
and its per-epoch training loss, validation metric and (STFC) final weights compared
with one uninterrupted run. The compute threads are fixed (num_threads=1), so the worker
count must not change the trajectory either: every cell is compared with the same run.

Before the fix, STFC with loader workers trained its resumed epoch in epoch 0's data
order (Lightning sets the sampler's epoch after the loader's workers have prefetched the
first batches): epoch 3's loss 0.0037 against 0.6133 uninterrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stemdl.common.infra.faults import KILL_AFTER_EPOCH_ENV, SIGNAL_ENV
from tests.stfc.conftest import write_separable

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3
EXIT = {"KILL": -9, "TERM": 143, "INT": 130}
# make test: every worker count and every signal of each implementation (STFC, the one
# that diverged, every worker count under SIGKILL and each signal with 2 workers; ORNL,
# exact before, the same without the 2-worker SIGKILL); STEMDL_RESUME_GRID=full: the whole
# table (15 cells, about 5 minutes more on 2 cores), as measured for issue 26
_FULL = os.environ.get("STEMDL_RESUME_GRID") == "full"
CELLS = ([("stfc", w, s) for w in (0, 1, 2) for s in ("KILL", "TERM", "INT")
          if _FULL or s == "KILL" or w == 2]
         + [("ornl", w, s) for w in (0, 2) for s in ("KILL", "TERM", "INT")
            if _FULL or (w, s) in ((0, "KILL"), (2, "TERM"), (2, "INT"))])
FRAMEWORK = {"stfc": "pytorch_lightning", "ornl": "tensorflow"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """12 training samples (6 batches of 2: their order matters), 6 validation."""
    return write_separable(tmp_path_factory.mktemp("resume-data"),
                           {"training": 12, "validation": 6}, size=16)


def train(impl: str, data: Path, run_dir: Path, workers: int, *extra: str,
          env: dict | None = None) -> subprocess.CompletedProcess:
    args = [f"data_dir={data}", f"run_dir={run_dir}", "resnet=18", "division=open",
            "batch_size=2", f"epochs={EPOCHS}", f"num_workers={workers}", "num_threads=1",
            "deterministic=true", "seed=5"]
    args += (["progress=false", "tensorboard=false"] if impl == "stfc"
             else ["warmup_epochs=0", "random_erasing_p=0.5"])  # ORNL: augmentation drawn
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                **(env or {})}
    full_env.pop("STEMDL_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "stemdl", "train", impl, *args, *extra],
                          cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def trajectory(run_dir: Path) -> list[tuple[float, float]]:
    result = json.loads((run_dir / "results.json").read_text())
    return [(e["train_loss"], e["val"]["macro_f1"]) for e in result["epochs"]]


_STRAIGHT: dict[str, Path] = {}


def straight(impl: str, data: Path, tmp_path_factory) -> Path:
    """The uninterrupted run of `impl` (0 loader workers), trained once."""
    if impl not in _STRAIGHT:
        run_dir = tmp_path_factory.mktemp(f"straight-{impl}") / "run"
        proc = train(impl, data, run_dir, 0)
        assert proc.returncode == 0, proc.stderr[-3000:]
        _STRAIGHT[impl] = run_dir
    return _STRAIGHT[impl]


@pytest.mark.parametrize(("impl", "workers", "sig"), CELLS)
def test_resumed_run_equals_the_uninterrupted_one(impl, workers, sig, data, tmp_path,
                                                  tmp_path_factory):
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra (make test installs it)")
    want = straight(impl, data, tmp_path_factory)
    run_dir = tmp_path / "run"
    stopped = train(impl, data, run_dir, workers,
                    env={KILL_AFTER_EPOCH_ENV: "1", SIGNAL_ENV: sig})
    assert stopped.returncode == EXIT[sig], stopped.stderr[-3000:]
    resumed = train(impl, data, run_dir, workers, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got, expected = trajectory(run_dir), trajectory(want)
    assert len(got) == len(expected) == EPOCHS
    for (loss, f1), (loss_want, f1_want) in zip(got, expected, strict=True):
        assert loss == pytest.approx(loss_want, rel=1e-6, abs=1e-9), (got, expected)
        assert f1 == pytest.approx(f1_want, abs=1e-9)
    if impl == "stfc":
        import torch

        w_got = torch.load(run_dir / "model.pt")["state_dict"]
        w_want = torch.load(want / "model.pt")["state_dict"]
        assert all(torch.equal(w_got[k], w_want[k]) for k in w_want)
