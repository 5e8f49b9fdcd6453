"""Tiny finished runs written by a real RunRecorder (no training): results.json + mlperf.log."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemdl.common.run.mllog import Keys
from stemdl.common.run.results import CPU_DEVICE, RunResult
from stemdl.common.run.runrecorder import RunRecorder
from stemdl.common.run.timing import LatencyMeter
from stemdl.common.task import get_task
from stemdl.common.tasks.classify.metric import ConfusionMatrix

LABELS = np.array([1, 2, 3, 225, 225, 14, 14, 62])


def hyperparameters(implementation: str, seed: int = 7) -> dict:
    """The closed recipe's logged values for one replica (global batch 32)."""
    ornl = implementation == "ornl"
    return {
        Keys.SEED: seed,
        Keys.GLOBAL_BATCH_SIZE: 32,
        Keys.TRAIN_SAMPLES: 64,
        Keys.EVAL_SAMPLES: len(LABELS),
        Keys.OPT_NAME: "adamw" if ornl else "adam",
        Keys.OPT_BASE_LR: 1e-3,
        Keys.OPT_WEIGHT_DECAY: 5e-5 if ornl else 0.0,
        Keys.OPT_LR_WARMUP_EPOCHS: 5 if ornl else 0,
        Keys.NUMBER_OF_NODES: 1,
        Keys.ACCELERATORS_PER_NODE: 1,
        Keys.RECIPE: implementation,
        Keys.MODEL_NAME: "resnet50",
        Keys.TARGET_F1: 0.9,
    }


def make_run(
    run_dir: Path,
    implementation: str,
    correct: list[int],
    *,
    target_f1: float = 0.9,
    seed: int = 0,
) -> RunResult:
    """A finished run whose epoch k predicts the first `correct[k]` labels right.

    The recorder's own clocks give real (tiny) times; everything else is deterministic.
    """
    rng = np.random.default_rng(seed)
    rec = RunRecorder(run_dir, implementation, task=get_task(), division="closed", target=target_f1,
                      stop_at_target=False)
    rec.init_start("stemdl-bench", "closed", "onprem", "test-host")
    rec.hyperparameters(hyperparameters(implementation, seed=7 + seed))  # runs of other seeds
    rec.init_stop()
    rec.run_start()
    for epoch, n_right in enumerate(correct, start=1):
        rec.epoch_start(epoch)
        rec.epoch_stop(epoch, samples=64, train_loss=float(5.0 / epoch))
        rec.eval_start(epoch)
        pred = LABELS.copy()
        wrong = np.arange(len(LABELS)) >= n_right
        pred[wrong] = rng.integers(100, 200, size=int(wrong.sum()))
        rec.eval_stop(epoch, ConfusionMatrix().update(LABELS, pred))
    rec.run_stop()
    latency = LatencyMeter()
    latency.add(4, 0.02 + 0.01 * seed)
    latency.add(4, 0.03)
    return rec.finish(
        test={"macro_f1": 0.25 + 0.1 * seed, "top1": 0.5},
        inference=latency.summary(),
        frameworks={"torch": "2.13.0", "pytorch-lightning": "2.6.6"}
        if implementation == "stfc" else {"tensorflow": "2.21.0", "keras": "3.15.1"},
        framework="torch" if implementation == "stfc" else "tensorflow",
        framework_version="2.13.0" if implementation == "stfc" else "2.21.0",
        device=CPU_DEVICE, device_count=1, precision="32",
        hardware={"processor": "x86_64", "cpu_count": 2, "hostname": "h"},
        parameters=23_000_000 + seed,
        model_size_bytes=92_000_000 + seed,
    )
