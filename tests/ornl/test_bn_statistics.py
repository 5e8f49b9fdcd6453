"""BatchNorm moving statistics across replicas: Keras updates each replica's own copy, so
replicas that trained on different shards disagree; the Trainer synchronises them before
every evaluation, so all replicas score the model a checkpoint saves (`make slurm-smoke`
found a 2-worker validation F1 that a single-process evaluation of the checkpoint did not
reproduce)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
REPO = Path(__file__).resolve().parents[2]

# two logical CPU devices must be configured before TensorFlow starts: a fresh process
SCRIPT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, sys.argv[1])
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from stemdl.ornl.distributed import worker_info
from stemdl.ornl.loop import Trainer, make_optimizer
from stemdl.ornl.resnet import build_resnet
from tests.ornl.memreader import MemoryReader

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build_resnet(18, 1, image_size=32)
    optimizer = make_optimizer(1e-3, 0.0, 0, 0, False)
    optimizer.build(model.trainable_variables)
trainer = Trainer(strategy, worker_info(strategy), model, optimizer, seed=0, per_replica_batch=4,
                  random_erasing_p=0.0, progress=False)
trainer.train_epoch(MemoryReader(16, seed=0), 0)
stats = trainer._statistics()
assert stats, "no BatchNorm statistics found"

def spread():
    return max(float(np.abs(a - b).max()) for a, b in
               (strategy.experimental_local_results(v.value) for v in stats))

def mean_of_replicas():
    return [np.mean([np.asarray(x) for x in strategy.experimental_local_results(v.value)], axis=0)
            for v in stats]

before, want = spread(), mean_of_replicas()
trainer.evaluate(MemoryReader(6, seed=1, split="val"))
after = spread()
err = max(float(np.abs(np.asarray(strategy.experimental_local_results(v.value)[0]) - m).max())
          for v, m in zip(stats, want))
print(f"SPREAD {before:.3g} {after:.3g} MEANERR {err:.3g}")
"""


def test_replicas_statistics_are_synchronised_before_evaluation():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO)], capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    line = [x for x in proc.stdout.splitlines() if x.startswith("SPREAD")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    before, after, _, mean_err = line[0].split()[1:]
    assert float(before) > 1e-6  # the replicas trained on different shards: they disagree
    assert float(after) == 0.0  # after the sync they hold the same statistics ...
    assert float(mean_err) < 1e-6  # ... their mean
