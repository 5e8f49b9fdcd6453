"""ORNL's network for the density task as data: a fully convolutional DenseNet
(FC-DenseNet, "Tiramisu", Jegou et al. 2017) of 3 average-pool levels, growth 256 and
5x5 kernels (arXiv 1909.11150), sized for GPUs: 232 M parameters at ORNL's settings
(ORNL reported about 215 M; its exact block sizes are not published).

Both frameworks build it from `FCDenseNetSpec` (stfc/fcdensenet.py, ornl/fcdensenet.py),
so a torch model's weights copy into the Keras one (tests/density/test_fcdensenet_diffs.py);
`trainable_parameter_count` is the reference both builders are tested against. Layout,
with growth G, kernel K, stem width F = G, and dense layers per block
`down_layers` (2, 2, 3) / `bottleneck_layers` 4 / the reverse going up (ORNL's
network_FCDenseNet_custom.json in nlaanait/stemdl, at growth 128 and 3x3 there):

- stem: a KxK conv with bias to F channels;
- dense layer: batch norm, ReLU, KxK conv with bias to G channels, concatenated to its
  input; a block of n layers adds n*G channels;
- down level i: a dense block (kept for the skip), then batch norm, ReLU, a 1x1 conv
  with bias keeping the channels, and a 2x2 average pool;
- bottleneck: a dense block, of which only its n*G new channels go up;
- up level i: a 2x2 transposed conv of stride 2 with bias (keeping the channels),
  concatenation with the level's skip, a dense block; only its new channels go up,
  except at the top level, where the whole block goes to
- head: a 1x1 conv with bias to one map per zone axis (3).

Batch norm before each conv (the paper's order) where ORNL's configuration had none: the
network then trains without LARC. Dropout (ORNL's 0.2) is left out as in the U-Net.
"""

from __future__ import annotations

from dataclasses import dataclass

from stemdl.common.cli.errors import StemdlError
from stemdl.common.workload import PATTERNS_PER_STACK

ORNL_GROWTH = 256
ORNL_KERNEL = 5
DOWN_LAYERS = (2, 2, 3)
BOTTLENECK_LAYERS = 4
MAX_GROWTH = 512
KERNELS = (1, 3, 5, 7)


@dataclass(frozen=True)
class FCDenseNetSpec:
    image_size: int
    growth: int = ORNL_GROWTH
    kernel: int = ORNL_KERNEL
    down_layers: tuple[int, ...] = DOWN_LAYERS
    bottleneck_layers: int = BOTTLENECK_LAYERS
    in_channels: int = PATTERNS_PER_STACK
    out_channels: int = PATTERNS_PER_STACK

    @property
    def levels(self) -> int:
        return len(self.down_layers)

    @property
    def up_layers(self) -> tuple[int, ...]:
        """Dense layers of the up blocks, deepest first."""
        return tuple(reversed(self.down_layers))

    @property
    def stem_width(self) -> int:
        return self.growth

    def skip_widths(self) -> list[int]:
        """Channels of each down level's dense block output (the skips), top level first."""
        widths, c = [], self.stem_width
        for n in self.down_layers:
            c += n * self.growth
            widths.append(c)
        return widths

    @property
    def name(self) -> str:
        return f"fcdensenet{self.levels}x{self.growth}k{self.kernel}"


def fcdensenet_spec(growth: int, kernel: int, image_size: int,
                    in_channels: int = PATTERNS_PER_STACK) -> FCDenseNetSpec:
    """A checked spec: one-line errors for an image size the pools do not divide, or a
    growth or kernel past the bounds."""
    growth, kernel, image_size = int(growth), int(kernel), int(image_size)
    if not 1 <= growth <= MAX_GROWTH:
        raise StemdlError(f"config key 'fcd_growth': must be in 1..{MAX_GROWTH}, got {growth}")
    if kernel not in KERNELS:
        raise StemdlError(f"config key 'fcd_kernel': must be one of {KERNELS}, got {kernel}")
    spec = FCDenseNetSpec(image_size, growth, kernel, in_channels=in_channels)
    if image_size % 2**spec.levels:
        raise StemdlError(f"density_net 'fcdensenet': {spec.levels} pooling levels need an image "
                          f"size divisible by {2**spec.levels}; the images are {image_size} px")
    return spec


def trainable_parameter_count(spec: FCDenseNetSpec) -> int:
    """Trainable parameters: convs with bias, BN scale+shift before each dense and
    transition conv, transposed convs, the head."""
    g, k2 = spec.growth, spec.kernel**2

    def block(c: int, n: int) -> tuple[int, int]:  # (parameters, channels out)
        total = 0
        for _ in range(n):
            total += 2 * c + c * g * k2 + g
            c += g
        return total, c

    total = spec.in_channels * spec.stem_width * k2 + spec.stem_width
    c = spec.stem_width
    for n in spec.down_layers:
        p, c = block(c, n)
        total += p + 2 * c + c * c + c  # transition down
    p, _ = block(c, spec.bottleneck_layers)
    total += p
    up = spec.bottleneck_layers * g
    for n, skip in zip(spec.up_layers, reversed(spec.skip_widths()), strict=True):
        total += up * up * 4 + up  # 2x2 transposed conv
        p, c = block(up + skip, n)
        total += p
        up = n * g
    return total + c * spec.out_channels + spec.out_channels
