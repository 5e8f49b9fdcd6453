"""The torch FC-DenseNet of the density task, built from the shared `FCDenseNetSpec`
(common/tasks/density/fcdensenet.py, where the layout is described; passed in by the
task's hooks, so this module imports no task package)."""

from __future__ import annotations

import torch
from torch import nn


class DenseLayer(nn.Sequential):
    """Batch norm, ReLU, KxK conv with bias to `growth` channels."""

    def __init__(self, cin: int, growth: int, kernel: int) -> None:
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(),
                         nn.Conv2d(cin, growth, kernel, padding=kernel // 2))


class DenseBlock(nn.Module):
    """`n` dense layers, each fed everything before it; returns (all channels, new ones)."""

    def __init__(self, cin: int, n: int, growth: int, kernel: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth, kernel) for i in range(n))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new = []
        for layer in self.layers:
            out = layer(x)
            new.append(out)
            x = torch.cat([x, out], dim=1)
        return x, torch.cat(new, dim=1)


class TransitionDown(nn.Sequential):
    def __init__(self, c: int) -> None:
        super().__init__(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 1), nn.AvgPool2d(2))


class FCDenseNet(nn.Module):
    """(N, C, S, S) patterns -> (N, 3, S, S) maps."""

    def __init__(self, spec) -> None:
        super().__init__()
        self.spec = spec
        g, k = spec.growth, spec.kernel
        self.stem = nn.Conv2d(spec.in_channels, spec.stem_width, k, padding=k // 2)
        self.down, self.transitions = nn.ModuleList(), nn.ModuleList()
        c = spec.stem_width
        for n in spec.down_layers:
            self.down.append(DenseBlock(c, n, g, k))
            c += n * g
            self.transitions.append(TransitionDown(c))
        self.bottleneck = DenseBlock(c, spec.bottleneck_layers, g, k)
        self.ups, self.up_blocks = nn.ModuleList(), nn.ModuleList()
        up = spec.bottleneck_layers * g
        for n, skip in zip(spec.up_layers, reversed(spec.skip_widths()), strict=True):
            self.ups.append(nn.ConvTranspose2d(up, up, 2, stride=2))
            self.up_blocks.append(DenseBlock(up + skip, n, g, k))
            c, up = up + skip + n * g, n * g
        self.head = nn.Conv2d(c, spec.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for block, transition in zip(self.down, self.transitions, strict=True):
            x, _ = block(x)
            skips.append(x)
            x = transition(x)
        _, x = self.bottleneck(x)
        last = len(self.ups) - 1
        for i, (up, block, skip) in enumerate(zip(self.ups, self.up_blocks, reversed(skips),
                                                  strict=True)):
            whole, new = block(torch.cat([up(x), skip], dim=1))
            x = whole if i == last else new
        return self.head(x)
