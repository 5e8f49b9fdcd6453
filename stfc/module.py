"""The STFC LightningModule: ResNet on the 3 patterns as 3 channels, cross-entropy.

Upstream trained with MSE on one-hot labels (a defect: a regression loss on a 231-way
softmax-free output); the recipe here is cross-entropy. Validation and test accumulate
one confusion matrix per rank (counts on the device, no per-batch metric) and
all-reduce it at the end of the epoch, so F1 and top-1 are those of the whole set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import nn

from stemdl.common.errors import StemdlError
from stemdl.common.metrics import ConfusionMatrix
from stemdl.common.workload import NUM_LOGITS
from stemdl.stfc.resnet import build_resnet


class StfcModule(pl.LightningModule):
    """ResNet-`resnet` classifier; metrics of the last validation/test in
    `val_confusion` / `test_confusion` (summed over ranks)."""

    def __init__(
        self,
        resnet: int = 50,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        num_classes: int = NUM_LOGITS,
        in_channels: int = 3,
        keep_predictions: bool = False,
        fingerprint: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["keep_predictions"])
        self.model = build_resnet(resnet, in_channels, num_classes)
        self.loss = nn.CrossEntropyLoss()
        self.num_classes = num_classes
        self.keep_predictions = keep_predictions
        self._counts: torch.Tensor | None = None
        self._preds: list[np.ndarray] = []
        self.val_confusion: ConfusionMatrix | None = None
        self.test_confusion: ConfusionMatrix | None = None
        self.predictions: dict[str, np.ndarray] = {}  # rank-local y_true/y_pred (tests)
        self.train_samples_seen = 0
        self.last_train_loss: float | None = None
        self._loss_sum: torch.Tensor | None = None
        self._loss_batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        h = self.hparams
        params = self.model.parameters()
        if h.optimizer == "adam":
            return torch.optim.Adam(params, lr=h.learning_rate, weight_decay=h.weight_decay)
        if h.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=h.learning_rate, weight_decay=h.weight_decay)
        if h.optimizer == "sgd":
            return torch.optim.SGD(params, lr=h.learning_rate, momentum=h.momentum,
                                   weight_decay=h.weight_decay)
        raise StemdlError(f"config key 'optimizer': unknown optimizer '{h.optimizer}'")

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
        self._counts = torch.zeros(self.num_classes * self.num_classes, dtype=torch.int64,
                                   device=self.device)
        self._preds = []

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        pred = self(x).argmax(dim=1)
        flat = y * self.num_classes + pred
        if flat.is_cuda and torch.are_deterministic_algorithms_enabled():
            # bincount has no deterministic CUDA kernel; an accumulating index_put_ does
            self._counts.index_put_((flat,), torch.ones_like(flat), accumulate=True)
        else:
            self._counts += torch.bincount(flat, minlength=self.num_classes**2)
        if self.keep_predictions:
            self._preds.append(torch.stack([y, pred]).cpu().numpy())

    def _all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            tensor = tensor.clone()
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def _eval_end(self, split: str) -> ConfusionMatrix:
        assert self._counts is not None
        counts = self._all_reduce(self._counts).cpu().numpy()
        cm = ConfusionMatrix(self.num_classes, counts.reshape(self.num_classes, self.num_classes))
        if self.keep_predictions:
            both = np.concatenate(self._preds, axis=1) if self._preds else np.zeros((2, 0), int)
            self.predictions[split] = both
        # identical on every rank (already reduced): no sync_dist needed
        self.log(f"{split}_macro_f1", cm.macro_f1(), rank_zero_only=False, sync_dist=False)
        self.log(f"{split}_top1", cm.top1(), rank_zero_only=False, sync_dist=False)
        return cm

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self.val_confusion = self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self.test_confusion = self._eval_end("test")
