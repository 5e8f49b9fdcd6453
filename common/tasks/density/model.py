"""The density task's network as data: a U-Net whose bottleneck mixes all positions
(ORNL's later networks used such a dense block to go from diffraction space to real space).

Both frameworks build it from `UNetSpec`, so a torch model's weights copy into the Keras
one (tests/test_modeldiffs.py); `trainable_parameter_count` is the reference both
builders are tested against. Layout, for depth D and width W:

- encoder level i < D: two (3x3 conv, no bias; batch norm; ReLU) to W*2^i channels, kept
  for the skip, then a 2x2 average pool;
- bottleneck: two such convs to W*2^D channels, then `mix`: one dense layer over the
  (S/2^D)^2 positions, shared by the channels, added to its input (residual);
- decoder level i: nearest 2x upsampling, concatenation with the level's skip, two convs
  to W*2^i channels;
- head: a 1x1 conv with bias to one map per pattern (3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stemdl.common.cli.errors import StemdlError, check_choice
from stemdl.common.workload import PATTERNS_PER_STACK

MAX_DEPTH = 6
MAX_WIDTH = 256
DENSITY_NETS = ("unet", "fcdensenet")  # config key density_net
MAX_MIX_POSITIONS = 4096  # the dense block holds positions^2 weights: 16.8 M at 64 x 64


@dataclass(frozen=True)
class UNetSpec:
    depth: int
    width: int
    image_size: int
    in_channels: int = PATTERNS_PER_STACK
    out_channels: int = PATTERNS_PER_STACK

    def widths(self) -> list[int]:
        """Channels of encoder levels 0..depth-1, then the bottleneck."""
        return [self.width * 2**i for i in range(self.depth + 1)]

    @property
    def bottleneck_size(self) -> int:
        return self.image_size // 2**self.depth

    @property
    def name(self) -> str:
        return f"unet{self.depth}x{self.width}"


def unet_spec(depth: int, width: int, image_size: int, in_channels: int = PATTERNS_PER_STACK
              ) -> UNetSpec:
    """A checked spec: one-line errors for a depth that does not divide the image size, or
    sizes past the bounds (a typo must not build a network that fills the memory)."""
    depth, width, image_size = int(depth), int(width), int(image_size)
    if not 1 <= depth <= MAX_DEPTH:
        raise StemdlError(f"config key 'unet_depth': must be in 1..{MAX_DEPTH}, got {depth}")
    if not 1 <= width <= MAX_WIDTH:
        raise StemdlError(f"config key 'unet_width': must be in 1..{MAX_WIDTH}, got {width}")
    if image_size % 2**depth:
        raise StemdlError(f"config key 'unet_depth': {depth} pooling levels need an image size "
                          f"divisible by {2**depth}; the images are {image_size} px")
    spec = UNetSpec(depth, width, image_size, in_channels)
    if spec.bottleneck_size**2 > MAX_MIX_POSITIONS:
        raise StemdlError(f"config key 'unet_depth': {depth} levels leave a "
                          f"{spec.bottleneck_size} x {spec.bottleneck_size} bottleneck, more than "
                          f"{MAX_MIX_POSITIONS} positions for its dense block; use a deeper U-Net")
    return spec


def density_model_spec(config: Any, image_size: int) -> Any:
    """The network the config's `density_net` names: the U-Net (`unet_depth`, `unet_width`)
    or ORNL's FC-DenseNet (`fcd_growth`, `fcd_kernel`); a key a checkpoint from before
    it lacks takes its default."""
    from stemdl.common.tasks.density.fcdensenet import ORNL_GROWTH, ORNL_KERNEL, fcdensenet_spec

    net = getattr(config, "density_net", None) or "unet"
    check_choice("config key 'density_net'", net, DENSITY_NETS)
    if net == "fcdensenet":
        return fcdensenet_spec(getattr(config, "fcd_growth", None) or ORNL_GROWTH,
                               getattr(config, "fcd_kernel", None) or ORNL_KERNEL, image_size)
    return unet_spec(config.unet_depth, config.unet_width, image_size)


def trainable_parameter_count(spec: UNetSpec) -> int:
    """Trainable parameters: convs without bias, BN scale+shift, the mixing block, the head."""

    def double(cin: int, cout: int) -> int:
        return cin * cout * 9 + 2 * cout + cout * cout * 9 + 2 * cout

    w = spec.widths()
    total, cin = 0, spec.in_channels
    for i in range(spec.depth):
        total += double(cin, w[i])
        cin = w[i]
    total += double(cin, w[-1])
    positions = spec.bottleneck_size**2
    total += positions * positions + positions
    cin = w[-1]
    for i in reversed(range(spec.depth)):
        total += double(cin + w[i], w[i])
        cin = w[i]
    return total + cin * spec.out_channels + spec.out_channels
