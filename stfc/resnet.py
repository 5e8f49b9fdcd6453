"""Torch ResNets built from the shared `ResNetSpec` (no torchvision: it does not load
with the CPU torch build, and the spec must be the same network the Keras builder makes).

v1.5 layout: in a bottleneck block the stride sits on the 3x3 convolution; convolutions
have no bias; a 1x1 projection (conv + BN) whenever the shape changes.
"""

from __future__ import annotations

import torch
from torch import nn

from stemdl.common.modelspec import ResNetSpec, resnet_spec
from stemdl.common.workload import PATTERNS_PER_STACK


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class _Block(nn.Module):
    """A basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1) residual block."""

    def __init__(self, kind: str, cin: int, width: int, expansion: int, stride: int) -> None:
        super().__init__()
        cout = width * expansion
        if kind == "basic":
            layers = [_conv(cin, width, 3, stride), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                      _conv(width, width, 3), nn.BatchNorm2d(width)]
        else:
            layers = [_conv(cin, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                      _conv(width, width, 3, stride), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                      _conv(width, cout, 1), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-`spec.depth`: (N, in_channels, H, W) -> (N, num_classes) logits."""

    def __init__(self, spec: ResNetSpec, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, spec.stem_width, spec.stem_kernel, stride=2,
                      padding=spec.stem_kernel // 2, bias=False),
            nn.BatchNorm2d(spec.stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        cin = spec.stem_width
        for stage, (count, width) in enumerate(zip(spec.stage_blocks, spec.stage_widths)):
            for b in range(count):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(_Block(spec.block, cin, width, spec.expansion, stride))
                cin = width * spec.expansion
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.feature_width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_resnet(
    depth: int = 50, in_channels: int = PATTERNS_PER_STACK, num_classes: int = 231
) -> ResNet:
    """ResNet-`depth` (18, 34, 50, 101) for the STFC input: 3 patterns as 3 channels."""
    return ResNet(resnet_spec(depth), in_channels, num_classes)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
