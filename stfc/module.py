"""The STFC LightningModule: ResNet on the 3 patterns as 3 channels, cross-entropy.

Upstream trained with MSE on one-hot labels (a regression loss on a 231-way softmax-free
output); the recipe here is cross-entropy, and `loss="mse"` gives upstream's (open
division) so that the two can be compared on the same data. The learning rate follows
`common.training.lr_factor` per step (constant in the recipe; cosine in the demo). Validation and test accumulate
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
from stemdl.common.training import lr_factors
from stemdl.common.workload import NUM_LOGITS
from stemdl.stfc.resnet import build_resnet


class OneHotMSE(nn.Module):
    """Upstream STFC's loss: mean squared error between the logits and one-hot labels."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = nn.functional.one_hot(labels, self.num_classes).to(logits.dtype)
        return nn.functional.mse_loss(logits, target)


def make_loss(loss: str, num_classes: int, label_smoothing: float = 0.0) -> nn.Module:
    """cross_entropy (the recipe, optionally label-smoothed) or mse on one-hot targets."""
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "mse":
        return OneHotMSE(num_classes)
    raise StemdlError(f"config key 'loss': unknown loss '{loss}' (cross_entropy or mse)")


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
        loss: str = "cross_entropy",
        label_smoothing: float = 0.0,
        lr_schedule: str = "constant",
        total_steps: int = 1,
        input_norm: dict | None = None,
    ) -> None:
        super().__init__()
        # the hyperparameters travel in every checkpoint: depth, channels, classes and the
        # input normalization are what rebuilds the network for evaluation and resume
        self.save_hyperparameters(ignore=["keep_predictions"])
        self.model = build_resnet(resnet, in_channels, num_classes)
        self.loss = make_loss(loss, num_classes, label_smoothing)
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
