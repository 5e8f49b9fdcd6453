"""ResNet architectures as data, so torch and Keras builders make the same network.

Both builders follow `resnet_spec(depth)`; `trainable_parameter_count` is the
reference their parameter counts are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

from stemdl.common.cli.errors import StemdlError


@dataclass(frozen=True)
class ResNetSpec:
    """Stage depths/widths and block type of a ResNet (He et al. 2016, v1.5 strides)."""

    depth: int
    block: str  # "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1)
    stage_blocks: tuple[int, int, int, int]
    stage_widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem_width: int = 64
    stem_kernel: int = 7

    @property
    def name(self) -> str:
        return f"resnet{self.depth}"

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    @property
    def feature_width(self) -> int:
        """Channels after the last stage (input width of the classifier)."""
        return self.stage_widths[-1] * self.expansion


_SPECS = {
    18: ResNetSpec(18, "basic", (2, 2, 2, 2)),
    34: ResNetSpec(34, "basic", (3, 4, 6, 3)),
    50: ResNetSpec(50, "bottleneck", (3, 4, 6, 3)),
    101: ResNetSpec(101, "bottleneck", (3, 4, 23, 3)),
}
RESNET_DEPTHS = tuple(sorted(_SPECS))


def resnet_spec(depth: int) -> ResNetSpec:
    """The spec of ResNet-`depth` (18, 34, 50 or 101)."""
    try:
        return _SPECS[int(depth)]
    except (KeyError, ValueError):
        raise StemdlError(
            f"unknown ResNet depth '{depth}'; valid: {', '.join(map(str, RESNET_DEPTHS))}"
        ) from None


def trainable_parameter_count(spec: ResNetSpec, in_channels: int, num_classes: int) -> int:
    """Trainable parameters of the network (convs without bias, BN scale+shift, dense).

    Batch-norm running statistics are not trainable and not counted.
    """

    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k * k

    def bn(c: int) -> int:
        return 2 * c

    total = conv(in_channels, spec.stem_width, spec.stem_kernel) + bn(spec.stem_width)
    cin = spec.stem_width
    for stage, (blocks, width) in enumerate(zip(spec.stage_blocks, spec.stage_widths)):
        cout = width * spec.expansion
        for b in range(blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            if spec.block == "basic":
                total += conv(cin, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            else:
                total += conv(cin, width, 1) + bn(width)
                total += conv(width, width, 3) + bn(width)
                total += conv(width, cout, 1) + bn(cout)
            if stride != 1 or cin != cout:
                total += conv(cin, cout, 1) + bn(cout)
            cin = cout
    total += spec.feature_width * num_classes + num_classes
    return total
