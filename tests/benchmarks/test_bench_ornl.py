"""ORNL training throughput: our loop (tf.data + strategy.run) vs plain Keras fit on
in-memory arrays, and the tf.data pipeline alone, ResNet-50 at 128x128.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_ornl.py --benchmark-only -q
Batch 16 per step (not the recipe's 32) to keep a round short on a 2-core CPU;
STEMDL_BENCH_ORNL_BATCH / _STEPS change it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stemdl.ornl import data as pipeline  # noqa: E402
from stemdl.ornl.distributed import worker_info  # noqa: E402
from stemdl.ornl.loop import Trainer, make_optimizer  # noqa: E402
from stemdl.ornl.resnet import build_resnet  # noqa: E402
from tests.ornl.memreader import MemoryReader  # noqa: E402

BATCH = int(os.environ.get("STEMDL_BENCH_ORNL_BATCH", "16"))
STEPS = int(os.environ.get("STEMDL_BENCH_ORNL_STEPS", "4"))
SIZE = 128
N = BATCH * STEPS


@pytest.fixture(scope="module")
def reader():
    return MemoryReader(N, size=SIZE, seed=0)


def test_bench_ornl_loop_resnet50(benchmark, reader):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_resnet(50, 1, image_size=SIZE)
        opt = make_optimizer(1e-3, 5e-5, 0, 0)
        opt.build(model.trainable_variables)
    trainer = Trainer(strategy, worker_info(strategy), model, opt, seed=0, per_replica_batch=BATCH,
                      progress=False)
    epochs = iter(range(1000))
    benchmark.extra_info.update({"samples": N, "baseline": "test_bench_keras_fit_resnet50",
                                 "batch": BATCH, "steps": STEPS, "image": SIZE})
    benchmark.pedantic(lambda: trainer.train_epoch(reader, next(epochs)), rounds=2,
                       iterations=1, warmup_rounds=1)


def test_bench_keras_fit_resnet50(benchmark, reader):
    x = np.stack([reader[i].stack[0] for i in range(N)])[..., None] / 255.0
    y = reader.labels().astype(np.int32)
    model = build_resnet(50, 1, image_size=SIZE)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=5e-5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    benchmark.extra_info.update({"samples": N, "batch": BATCH, "steps": STEPS, "image": SIZE})
    benchmark.pedantic(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True),
                       rounds=2, iterations=1, warmup_rounds=1)


def test_bench_ornl_tfdata_only(benchmark, reader):
    opts = pipeline.PipelineOptions(seed=0, per_replica_batch=BATCH)
    epochs = iter(range(1000))

    def consume():
        for _ in pipeline.train_dataset(reader, next(epochs), opts):
            pass

    benchmark.extra_info.update({"samples": N, "baseline": "test_bench_ornl_loop_resnet50",
                                 "bytes": N * 3 * SIZE * SIZE * 4, "target": ">= 5x"})
    benchmark.pedantic(consume, rounds=3, iterations=1, warmup_rounds=1)
