"""Speed settings of the STFC implementation that do not change its results.

Channels-last on CPU under bf16: oneDNN's bf16 convolutions run on NHWC; with NCHW
weights every convolution reorders its tensors. Measured on this 2-core AVX512-BF16 CPU
(ResNet-50, 128 px, batch 16, one thread, interleaved steps): bf16 with channels-last
1.5 to 4.4x float32, bf16 alone 1.0 to 3.6x, float32 with channels-last 0.9 to 1.9x
(not consistently faster, so float32 stays NCHW). Converting the weights is enough:
a convolution whose weight is channels-last returns channels-last activations.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class ChannelsLast(pl.Callback):
    """Put the model's weights in channels-last memory format when fitting starts."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.to(memory_format=torch.channels_last)


def speed_callbacks(precision: str, accelerator: str, channels_last: bool | None = None
                    ) -> list[pl.Callback]:
    """The callbacks that make this precision/accelerator faster: channels-last where it was
    measured faster (bf16 on the CPU) unless config key `channels_last` says otherwise."""
    if channels_last is None:
        channels_last = precision == "bf16-mixed" and accelerator == "cpu"
    return [ChannelsLast()] if channels_last else []
