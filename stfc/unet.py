"""The torch U-Net of the density task, built from the shared `UNetSpec`
(common/tasks/density/model.py, where the layout is described; passed in by the
task's hooks, so this module imports no task package)."""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    """Two (3x3 conv without bias, batch norm, ReLU)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class PositionMix(nn.Module):
    """A dense layer over the positions of each channel (shared by the channels), residual."""

    def __init__(self, positions: int) -> None:
        super().__init__()
        self.linear = nn.Linear(positions, positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(x.flatten(2)).view_as(x)


class UNet(nn.Module):
    """(N, 3, S, S) patterns -> (N, 3, S, S) maps."""

    def __init__(self, spec) -> None:
        super().__init__()
        w = spec.widths()
        self.spec = spec
        cins = [spec.in_channels, *w[: spec.depth - 1]]
        self.encoders = nn.ModuleList(DoubleConv(cin, c) for cin, c in zip(cins, w[:-1], strict=True))
        self.bottleneck = DoubleConv(w[spec.depth - 1], w[-1])
        self.mix = PositionMix(spec.bottleneck_size**2)
        # deepest level first
        self.decoders = nn.ModuleList(DoubleConv(w[i + 1] + w[i], w[i])
                                      for i in reversed(range(spec.depth)))
        self.head = nn.Conv2d(w[0], spec.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = nn.functional.avg_pool2d(x, 2)
        x = self.mix(self.bottleneck(x))
        for decoder, skip in zip(self.decoders, reversed(skips), strict=True):
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = decoder(torch.cat([x, skip], dim=1))
        return self.head(x)
