"""Multi-process and interrupted runs: 2-process DDP on CPU (gloo), and kill + --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from stemdl.common.run.results import RunResult
from stemdl.stfc.callbacks import KILL_ENV
from tests.stfc.conftest import TINY, TWO_EPOCHS, run_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packed_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real tiny data: the raw ORNL-layout fixture, preprocessed to the packed layout."""
    from stemdl.common.data.preprocess import preprocess
    from tests.data.fixtures import write_raw_folder

    base = tmp_path_factory.mktemp("stfc-raw")
    write_raw_folder(base / "raw", materials={"train": 8, "dev": 5, "test": 2}, energies=2, size=32)
    preprocess(base / "raw", base / "packed", fmt="packed", size=32, progress=False)
    return base / "packed"


def test_ddp_two_processes_f1_equals_gathered(packed_fixture: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    proc = run_module([f"data_dir={packed_fixture}", f"run_dir={run_dir}", *TINY, "epochs=1",
                       "batch_size=4", "devices=2", "accelerator=cpu", "save_predictions=true"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = RunResult.read(run_dir)
    assert result.world_size == 2 and result.global_batch_size == 8
    parts = [np.load(run_dir / "predictions" / f"val-rank{r}.npz") for r in (0, 1)]
    assert [len(p["labels"]) for p in parts] == [5, 5]  # 10 validation samples, no padding
    # each rank's shard is samples rank, rank + 2, ...: the indices cover the split once
    assert sorted(np.concatenate([p["indices"] for p in parts]).tolist()) == list(range(10))
    expected = f1_score(np.concatenate([p["labels"] for p in parts]),
                        np.concatenate([p["preds"] for p in parts]), average="macro")
    assert result.epochs[-1].val["macro_f1"] == pytest.approx(expected, abs=1e-12)
    log = (run_dir / "mlperf.log").read_text()
    assert log.count('"key": "run_start"') == 1  # rank 0 only: no duplicated lines
    assert '"key": "number_of_nodes", "value": 1' in log
    assert '"key": "stemdl_world_size", "value": 2' in log  # 2 ranks, though 0 accelerators


def test_resume_after_kill_gives_same_result(tiny_data: Path, e2e_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    args = [f"data_dir={tiny_data}", f"run_dir={run_dir}", *TWO_EPOCHS]
    killed = run_module(args, env={KILL_ENV: "1"})  # SIGKILL as epoch 2 starts
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    resumed = run_module(["--resume", *args])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got, want = RunResult.read(run_dir), RunResult.read(e2e_run)
    assert [e.epoch for e in got.epochs] == [1, 2]
    for a, b in zip(got.epochs, want.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
        assert a.val["macro_f1"] == pytest.approx(b.val["macro_f1"], abs=1e-9)
    import torch

    w_got = torch.load(run_dir / "model.pt")["state_dict"]
    w_want = torch.load(e2e_run / "model.pt")["state_dict"]
    assert any("running_mean" in k for k in w_want)  # BatchNorm statistics are compared too
    assert all(torch.allclose(w_got[k].float(), w_want[k].float(), atol=1e-5) for k in w_want)
    keys = [line.split('"key": "')[1].split('"')[0]
            for line in (run_dir / "mlperf.log").read_text().splitlines()]
    assert keys.count("run_start") == 1 and keys.count("run_stop") == 1
    assert keys.count("eval_stop") == 2
