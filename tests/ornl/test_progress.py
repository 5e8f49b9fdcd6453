"""The ORNL loop reports progress in a batch job's log (stderr not a terminal)."""

from __future__ import annotations

import re

import tensorflow as tf

from stemdl.common.infra.progress import INTERVAL_ENV
from stemdl.ornl.distributed import worker_info
from stemdl.ornl.loop import Trainer, make_optimizer
from stemdl.ornl.resnet import build_resnet
from tests.ornl.memreader import MemoryReader


def _trainer(progress: bool) -> Trainer:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build_resnet(18, 1, image_size=32)
        opt = make_optimizer(1e-3, 0.0, 0, 0)
        opt.build(model.trainable_variables)
    return Trainer(strategy, worker_info(strategy), model, opt, seed=0, per_replica_batch=4,
                   progress=progress)


def test_train_and_evaluate_print_progress_lines_without_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv(INTERVAL_ENV, "0")  # a line at every step
    trainer = _trainer(progress=True)
    val = MemoryReader(10, size=32, seed=1, split="val")
    trainer.train_epoch(MemoryReader(12, size=32), 0)
    trainer.evaluate(val)
    err = capsys.readouterr().err
    assert re.findall(r"train epoch 1: (\d+)/3 steps, .* steps/s", err)[:3] == ["1", "2", "3"]
    # 10 samples in batches of 4: 3 steps (the last one short)
    assert re.findall(r"evaluate: (\d+)/3 steps", err)[:3] == ["1", "2", "3"]
    assert "\r" not in err  # plain lines, no terminal redraws
    trainer.progress = False  # what a non-chief worker has
    trainer.evaluate(val)
    assert "steps" not in capsys.readouterr().err


def test_one_training_iterator_serves_consecutive_epochs():
    """Made once, kept while epochs follow each other (a per-epoch teardown waited seconds
    for tf.data's threads); made again for an epoch out of sequence or another reader."""
    trainer = _trainer(progress=False)
    reader = MemoryReader(12, size=32)
    trainer.train_epoch(reader, 0)
    first = trainer._train_iter
    _, samples = trainer.train_epoch(reader, 1)
    assert trainer._train_iter is first and samples == 12
    trainer.train_epoch(reader, 5)  # a resumed run's first epoch
    assert trainer._train_iter is not first
    again = trainer._train_iter
    trainer.train_epoch(MemoryReader(12, size=32, seed=3), 6)
    assert trainer._train_iter is not again
