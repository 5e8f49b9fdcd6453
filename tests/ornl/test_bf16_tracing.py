"""The ORNL loop under Keras mixed_bfloat16 on CPU, and its one-trace-per-shape steps."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from stemdl.ornl.distributed import worker_info  # noqa: E402
from stemdl.ornl.loop import Trainer, make_optimizer  # noqa: E402
from stemdl.ornl.resnet import build_resnet  # noqa: E402
from tests.ornl.memreader import MemoryReader  # noqa: E402

pytestmark = pytest.mark.slow


def _trainer(policy: str, batch: int = 4) -> Trainer:
    keras.mixed_precision.set_global_policy(policy)
    try:
        strategy = tf.distribute.get_strategy()
        model = build_resnet(18, 1, image_size=16)
        opt = make_optimizer(1e-3, 5e-5, 0, 0)
        opt.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return Trainer(strategy, worker_info(strategy), model, opt, seed=0, per_replica_batch=batch,
                   progress=False)


def test_bf16_mixed_trains_on_cpu_with_float32_weights_and_logits():
    trainer = _trainer("mixed_bfloat16")
    loss, samples = trainer.train_epoch(MemoryReader(8, size=16), 0)
    assert np.isfinite(loss) and samples == 8
    assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
    conv = next(layer for layer in trainer.model.layers if "conv" in layer.name.lower())
    assert conv.compute_dtype == "bfloat16"


def test_steps_trace_once_and_the_short_eval_batch_reuses_the_trace(capsys):
    trainer = _trainer("float32")
    reader = MemoryReader(10, size=16)  # eval: batches of 4, 4 and a short one of 2
    trainer.train_epoch(reader, 0)
    trainer.train_epoch(reader, 1)
    out = trainer.evaluate(reader)
    assert int(out.metric.counts.sum()) == 10
    trainer.evaluate(reader)
    assert trainer._train_step.experimental_get_tracing_count() == 1
    assert trainer._eval_step.experimental_get_tracing_count() == 1
    startup = trainer.startup
    assert set(startup) == {"train_trace_s", "eval_trace_s", "first_step_s"}
    assert all(v > 0 for v in startup.values())
    assert "ornl: training step traced in" in capsys.readouterr().out
