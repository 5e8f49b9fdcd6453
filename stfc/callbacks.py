"""Lightning callbacks: the thin adapter onto the common RunRecorder, and atomic checkpoints.

Lightning 2 runs the end-of-epoch validation *inside* the training epoch (before
`on_train_epoch_end`), so the epoch is closed (epoch_stop) when validation starts, and
MLPerf sees epoch_start, epoch_stop, eval_start, eval_stop in that order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.trainer.states import TrainerFn

from stemdl.common.infra.atomic import write_atomic
from stemdl.common.infra.faults import KILL_AFTER_EPOCH_ENV, fault_after_epoch
from stemdl.common.run.runpolicy import write_predictions
from stemdl.common.run.runrecorder import RunRecorder
from stemdl.stfc.module import StfcModule

# the resume tests' fault injection (common/infra/faults.py), checked when epoch N+1
# starts, i.e. after epoch N's checkpoint was written
KILL_ENV = KILL_AFTER_EPOCH_ENV


class RecorderCallback(pl.Callback):
    """Calls the RunRecorder at Lightning's hooks; epochs are numbered from 1."""

    def __init__(self, recorder: RunRecorder, predictions_run_dir: Path | None = None,
                 stage: Callable[[pl.Trainer], None] | None = None) -> None:
        """`predictions_run_dir`: the run folder whose predictions/ gets each rank's last
        validation predictions (common.run.runpolicy.write_predictions); None: none.
        `stage`: copies the data as config key `staging` says, right after run_start."""
        self.recorder = recorder
        self.stage = stage
        self.predictions_run_dir = predictions_run_dir
        self._open_epoch: int | None = None
        self.stopped_at_target = False
        self._first_step_from: float | None = None

    @staticmethod
    def _fitting(trainer: pl.Trainer) -> bool:
        return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.recorder.init_stop()
        self.recorder.run_start()
        if self.stage is not None:
            self.stage(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fault_after_epoch(trainer.current_epoch)
        self._open_epoch = trainer.current_epoch + 1
        self.recorder.epoch_start(self._open_epoch)
        if self._first_step_from is None:
            self._first_step_from = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        """The first step of this process (its input, first-call allocation, compilation):
        results.json startup.first_step_s, as the ORNL loop records it."""
        if self._first_step_from is not None and "first_step_s" not in self.recorder.result.startup:
            if trainer.strategy.root_device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - self._first_step_from
            self.recorder.result.startup = {**self.recorder.result.startup, "first_step_s": seconds}

    def _close_epoch(self, trainer: pl.Trainer, module: StfcModule) -> None:
        if self._open_epoch is None:
            return
        loss = module.epoch_train_loss()  # collective: every rank is here
        samples = module.train_samples_seen * trainer.world_size
        self.recorder.epoch_stop(self._open_epoch, samples=samples, train_loss=loss)
        module.last_train_loss = loss
        self._open_epoch = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._fitting(trainer):
            return
        self._close_epoch(trainer, pl_module)  # type: ignore[arg-type]
        self.recorder.eval_start(trainer.current_epoch + 1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._fitting(trainer):
            return
        module: StfcModule = pl_module  # type: ignore[assignment]
        assert module.val_metric is not None
        epoch = trainer.current_epoch + 1
        if self.predictions_run_dir is not None and "val" in module.predictions:
            targets, preds = module.predictions["val"]
            # the validation shard of this rank: samples rank, rank + world, ... (ShardSampler)
            indices = np.arange(trainer.global_rank, len(trainer.datamodule.datasets["val"]),
                                trainer.world_size)[:len(targets)]
            write_predictions(self.predictions_run_dir, "val", trainer.global_rank, indices,
                              targets, preds)
        if self.recorder.eval_stop(epoch, module.val_metric):
            self.stopped_at_target = True
            trainer.should_stop = True  # same decision on every rank: the counts are reduced

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_epoch(trainer, pl_module)  # type: ignore[arg-type]  # no validation ran

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.recorder.run_stop()


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to `<name>.tmp-<pid>` and renamed: a kill mid-write never leaves a
    truncated file that looks like a checkpoint."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        save = super().save_checkpoint
        write_atomic(Path(path), lambda tmp: save(checkpoint, tmp, storage_options))
