"""The density task's torch hooks: the U-Net's maps, MSE or L1 loss, the maps themselves
as predictions, and the metric's sums (common/tasks/density/metric.py) as the evaluation
state, accumulated on the device in float64."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from stemdl.common.cli.errors import StemdlError
from stemdl.common.task import get_task
from stemdl.common.tasks.density.fcdensenet import FCDenseNetSpec
from stemdl.common.tasks.density.metric import FIELDS, TINY, MapErrors
from stemdl.common.workload import PATTERNS_PER_STACK
from stemdl.stfc.fcdensenet import FCDenseNet
from stemdl.stfc.unet import UNet

LOSSES = {"mse": nn.MSELoss, "l1": nn.L1Loss}


def batch_sums(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The state increment of a batch of maps (N, C, H, W): the numbers of
    `common.tasks.density.metric.batch_sums`, in float64 on the device."""
    t = target.detach().double().flatten(2).flatten(0, 1)  # (maps, pixels)
    p = prediction.detach().double().flatten(2).flatten(0, 1)
    err = p - t
    sse, sst = (err**2).sum(1), (t**2).sum(1)
    rel = torch.sqrt(sse / sst.clamp_min(TINY))
    tc, pc = t - t.mean(1, keepdim=True), p - p.mean(1, keepdim=True)
    denom = torch.sqrt((tc**2).sum(1) * (pc**2).sum(1))
    r = torch.where(denom > TINY, (tc * pc).sum(1) / denom.clamp_min(TINY), torch.zeros_like(denom))
    n = torch.tensor([float(t.shape[0]), float(t.numel())], dtype=torch.float64, device=t.device)
    return torch.cat([n, torch.stack([sse.sum(), sst.sum(), err.abs().sum(), rel.sum(), r.sum()])])


class DensityHooks:
    """What the task-neutral LightningModule asks of the density task."""

    task = get_task("density")
    outputs = PATTERNS_PER_STACK  # one map per pattern

    def build_model(self, spec, in_channels: int) -> nn.Module:
        """The U-Net or FC-DenseNet of `spec` over the data's `in_channels` patterns (3,
        or a scan's 3 x positions)."""
        spec = replace(spec, in_channels=in_channels)
        return FCDenseNet(spec) if isinstance(spec, FCDenseNetSpec) else UNet(spec)

    def make_loss(self, loss: str, label_smoothing: float) -> nn.Module:
        if loss not in LOSSES:
            raise StemdlError(f"config key 'loss': unknown loss '{loss}' ({' or '.join(LOSSES)})")
        return LOSSES[loss]()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float()

    def eval_state(self, device: torch.device) -> torch.Tensor:
        return torch.zeros(len(FIELDS), dtype=torch.float64, device=device)

    def eval_update(self, state: torch.Tensor, prediction: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
        return state + batch_sums(prediction, target)

    def metric(self, state: np.ndarray) -> MapErrors:
        return MapErrors(state)


HOOKS = DensityHooks()
