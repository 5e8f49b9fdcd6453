"""The LightningModule of every task: the task's model and loss, its metric's state.

Task-neutral: the task's torch hooks (`stfc/tasks/`) build the network and the loss and
keep the evaluation state on the device (classification: the confusion counts); the
module all-reduces that one vector at the end of validation and test, so every number is
the whole set's (`common.metrics.Metric`), never a mean of per-batch values. The learning
rate follows `common.run.training.lr_factor` per step (constant in the recipes; cosine in the
demo).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist

from stemdl.common.cli.errors import StemdlError
from stemdl.common.metrics import Metric
from stemdl.common.run.training import lr_factors
from stemdl.common.task import get_task
from stemdl.stfc.tasks import hooks


class StfcModule(pl.LightningModule):
    """The task's network (ResNet-`resnet`; the density task's U-Net of `unet_depth`,
    `unet_width` for `image_size`); the metric of the last validation/test in
    `val_metric` / `test_metric` (summed over ranks)."""

    def __init__(
        self,
        resnet: int = 50,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        num_classes: int | None = None,  # the task's (checkpoints record it)
        in_channels: int = 3,
        keep_predictions: bool = False,
        fingerprint: dict | None = None,
        loss: str = "cross_entropy",
        label_smoothing: float = 0.0,
        lr_schedule: str = "constant",
        total_steps: int = 1,
        input_norm: dict | None = None,
        task: str = "classify",
        data_fingerprint: dict | None = None,
        unet_depth: int = 3,
        unet_width: int = 16,
        density_net: str = "unet",
        fcd_growth: int = 256,
        fcd_kernel: int = 5,
        image_size: int | None = None,  # the network's input size (the density U-Net's)
    ) -> None:
        super().__init__()
        # the hyperparameters travel in every checkpoint: depth, channels, classes and the
        # input normalization are what rebuilds the network for evaluation and resume
        self.save_hyperparameters(ignore=["keep_predictions"])
        self.hooks = hooks(task)
        self.hparams["num_classes"] = self.hooks.outputs  # recorded: the network's outputs
        self.spec = get_task(task).model_spec(self.hparams, image_size or 0)
        self.model = self.hooks.build_model(self.spec, in_channels)
        self.loss = self.hooks.make_loss(loss, label_smoothing)
        self.keep_predictions = keep_predictions
        self._state: torch.Tensor | None = None
        self._preds: list[tuple[np.ndarray, np.ndarray]] = []
        self.val_metric: Metric | None = None
        self.test_metric: Metric | None = None
        self.predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # rank-local (targets, predictions)
        self.train_samples_seen = 0
        self.last_train_loss: float | None = None
        self._loss_sum: torch.Tensor | None = None
        self._loss_batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> Any:
        h = self.hparams
        params = self.model.parameters()
        if h.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=h.learning_rate, weight_decay=h.weight_decay)
        elif h.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=h.learning_rate, weight_decay=h.weight_decay)
        elif h.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=h.learning_rate, momentum=h.momentum,
                                  weight_decay=h.weight_decay)
        else:
            raise StemdlError(f"config key 'optimizer': unknown optimizer '{h.optimizer}'")
        if h.lr_schedule == "constant":
            return opt
        table = lr_factors(h.lr_schedule, h.total_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: float(table[min(step, len(table) - 1)]))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- training ------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_batches = 0
        self.train_samples_seen = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self(x), y)
        self._loss_sum = self._loss_sum + loss.detach() if self._loss_sum is not None else loss.detach()
        self._loss_batches += 1
        self.train_samples_seen += int(y.shape[0])
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def epoch_train_loss(self) -> float | None:
        """Mean training loss of this epoch over all ranks (one all-reduce)."""
        if not self._loss_batches or self._loss_sum is None:
            return None
        stats = torch.stack([self._loss_sum.float(),
                             torch.tensor(float(self._loss_batches), device=self.device)])
        stats = self._all_reduce(stats)
        return float(stats[0] / stats[1])

    # -- evaluation ------------------------------------------------------------------------
    def _eval_start(self) -> None:
        self._state = self.hooks.eval_state(self.device)
        self._preds = []

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        pred = self.hooks.predict(self(x))
        self._state = self.hooks.eval_update(self._state, pred, y)
        if self.keep_predictions:
            self._preds.append((y.cpu().numpy(), pred.cpu().numpy()))

    def _all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            tensor = tensor.clone()
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def _eval_end(self, split: str) -> Metric:
        assert self._state is not None
        metric = self.hooks.metric(self._all_reduce(self._state).cpu().numpy())
        if self.keep_predictions:
            if self._preds:
                self.predictions[split] = tuple(np.concatenate(part) for part in zip(*self._preds))
            else:
                self.predictions[split] = (np.zeros(0, int), np.zeros(0, int))
        # identical on every rank (already reduced): no sync_dist needed
        for name, value in metric.result().items():
            self.log(f"{split}_{name}", value, rank_zero_only=False, sync_dist=False)
        return metric

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self.val_metric = self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self.test_metric = self._eval_end("test")
