"""bf16-mixed on CPU (Lightning's CPU autocast) with channels-last weights: trains, and
the weights stay float32."""

from __future__ import annotations

import logging

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("pytorch_lightning")

from stemdl.stfc.module import StfcModule  # noqa: E402
from stemdl.stfc.speed import ChannelsLast, speed_callbacks  # noqa: E402


def test_only_bf16_on_cpu_gets_channels_last():
    assert [type(c) for c in speed_callbacks("bf16-mixed", "cpu")] == [ChannelsLast]
    assert speed_callbacks("32", "cpu") == [] and speed_callbacks("bf16-mixed", "gpu") == []


def test_bf16_mixed_fit_on_cpu_with_channels_last():
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32) * 255
    y = torch.randint(0, 231, (8,))
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    module = StfcModule(resnet=18)
    seen: list[torch.dtype] = []
    module.model.fc.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, precision="bf16-mixed",
                         callbacks=speed_callbacks("bf16-mixed", "cpu"), logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=loader)
    assert trainer.global_step == 2 and seen and set(seen) == {torch.bfloat16}  # autocast ran
    conv = module.model.stem[0].weight
    assert conv.dtype == torch.float32 and conv.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(module._loss_sum)
