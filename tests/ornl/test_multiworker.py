"""Two MultiWorkerMirroredStrategy workers on localhost (TF_CONFIG), one process each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from stemdl.common.run.results import RunResult
from tests.ornl.conftest import TINY, write_npz_split
from tests.ornl.memreader import MemoryReader

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_sum_confusion_like_gathered_predictions(tmp_path):
    data = tmp_path / "data"
    write_npz_split(data / "training", MemoryReader(32, seed=0))
    write_npz_split(data / "validation", MemoryReader(25, seed=1, split="val"))  # odd: uneven shards
    write_npz_split(data / "testing", MemoryReader(6, seed=2, split="test"))
    run_dir = tmp_path / "run"
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
                   TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="2", OMP_NUM_THREADS="1",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "stemdl.ornl.train", "--data-dir", str(data), "--run-dir",
             str(run_dir), "--epochs", "1", *TINY, "batch_size=4", "save_predictions=true"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
    result = RunResult.read(run_dir)
    assert result.world_size == 2 and result.global_batch_size == 8
    assert result.hardware["workers"] == 2 and (result.device, result.device_count) == ("cpu", 2)
    parts = [np.load(run_dir / "predictions" / f"val-rank{i}.npz") for i in range(2)]
    indices = np.concatenate([p["indices"] for p in parts])
    assert sorted(indices.tolist()) == list(range(25))  # disjoint shards, nothing padded
    labels = np.concatenate([p["labels"] for p in parts])
    preds = np.concatenate([p["preds"] for p in parts])
    assert result.epochs[0].val["macro_f1"] == pytest.approx(f1_score(labels, preds, average="macro"),
                                                          abs=1e-12)
    assert result.epochs[0].val["top1"] == pytest.approx(float((labels == preds).mean()))
    # test on every worker; inference timed on the chief alone, also with two workers
    assert set(result.test) == {"macro_f1", "top1"}
    assert result.inference["split"] == "test" and result.inference["samples"] == 6
    assert not (run_dir / "checkpoints" / ".worker-1").exists()
    assert (run_dir / "checkpoints" / "ckpt-1.index").exists()
