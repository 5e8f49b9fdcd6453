"""Classification's torch hooks: ResNet logits, cross-entropy (or upstream's one-hot MSE),
the confusion counts as the evaluation state, arg-max predictions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stemdl.common.cli.errors import StemdlError
from stemdl.common.task import get_task
from stemdl.common.tasks.classify.facts import NUM_LOGITS
from stemdl.common.tasks.classify.metric import ConfusionMatrix
from stemdl.stfc.resnet import build_resnet


class OneHotMSE(nn.Module):
    """Upstream STFC's loss: mean squared error between the logits and one-hot labels."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = nn.functional.one_hot(labels, self.num_classes).to(logits.dtype)
        return nn.functional.mse_loss(logits, target)


def make_loss(loss: str, num_classes: int = NUM_LOGITS, label_smoothing: float = 0.0) -> nn.Module:
    """cross_entropy (the recipe, optionally label-smoothed) or mse on one-hot targets."""
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "mse":
        return OneHotMSE(num_classes)
    raise StemdlError(f"config key 'loss': unknown loss '{loss}' (cross_entropy or mse)")


class ClassifyHooks:
    """What the task-neutral LightningModule asks of classification."""

    task = get_task("classify")
    outputs = NUM_LOGITS

    def build_model(self, spec, in_channels: int) -> nn.Module:
        """The ResNet of `spec` (a ResNetSpec) with `in_channels` input channels."""
        return build_resnet(spec.depth, in_channels, self.outputs)

    def make_loss(self, loss: str, label_smoothing: float) -> nn.Module:
        return make_loss(loss, self.outputs, label_smoothing)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(dim=1)

    def eval_state(self, device: torch.device) -> torch.Tensor:
        return torch.zeros(self.outputs * self.outputs, dtype=torch.int64, device=device)

    def eval_update(self, state: torch.Tensor, prediction: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        """Add a batch's (true, predicted) counts to the flat confusion state, on the device."""
        flat = target * self.outputs + prediction
        if flat.is_cuda and torch.are_deterministic_algorithms_enabled():
            # bincount has no deterministic CUDA kernel; an accumulating index_put_ does
            return state.index_put_((flat,), torch.ones_like(flat), accumulate=True)
        return state + torch.bincount(flat, minlength=self.outputs**2)

    def metric(self, state: np.ndarray) -> ConfusionMatrix:
        return ConfusionMatrix(self.outputs).with_state(state)


HOOKS = ClassifyHooks()
