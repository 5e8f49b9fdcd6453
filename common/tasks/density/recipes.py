"""The density task's two recipes, stated once (closed division). No published STEMDL
reconstruction recipe runs today (docs/DENSITY.md): these are ORNL's choices (L1 loss,
Adam-family optimizer, every pattern of a sample at once) at the size of a 2-core machine,
a U-Net of depth 3 and width 16; both implementations train the same network."""

from __future__ import annotations

from dataclasses import dataclass, field

from stemdl.common.workload import INPUT_IMAGE_SIZE, PATTERNS_PER_STACK

LOSSES = ("mse", "l1")


@dataclass(frozen=True)
class StfcRecipe:
    """STFC's side: the 3 patterns as 3 channels (as STFC's classifier), Adam, MSE."""

    name: str = "stfc"
    unet_depth: int = 3
    unet_width: int = 16
    density_net: str = "unet"  # fcdensenet (ORNL's GPU network) is open division
    in_channels: int = PATTERNS_PER_STACK
    image_size: int = INPUT_IMAGE_SIZE
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 8  # per process
    loss: str = "mse"  # or l1 (ORNL's)
    weight_decay: float = 0.0
    input_norm: str = "unit"
    lr_schedule: str = "constant"
    label_smoothing: float = 0.0
    losses: tuple[str, ...] = LOSSES


@dataclass(frozen=True)
class OrnlRecipe:
    """ORNL's side: L1 loss (ORNL's reconstruction), AdamW, every pattern of a sample at
    once (a pattern per zone axis, a map per pattern); no erasing, dropout or warm-up."""

    name: str = "ornl"
    unet_depth: int = 3
    unet_width: int = 16
    density_net: str = "unet"  # fcdensenet (ORNL's GPU network) is open division
    in_channels: int = PATTERNS_PER_STACK
    image_size: int = INPUT_IMAGE_SIZE
    optimizer: str = "adamw"
    learning_rate: float = 1e-3  # per replica: scaled linearly by the number of replicas
    scale_lr_by_replicas: bool = True
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    batch_size: int = 8  # per replica
    loss: str = "l1"
    input_norm: str = "unit"
    lr_schedule: str = "constant"
    label_smoothing: float = 0.0
    dropout: float = 0.0
    random_erasing_p: float = 0.0
    mixup_alpha: float = 0.0
    train_patterns: str = "all_channels"
    eval_patterns: str = "all_channels"
    losses: tuple[str, ...] = LOSSES
    extra: dict = field(default_factory=dict)


STFC = StfcRecipe()
ORNL = OrnlRecipe()
RECIPES = {"stfc": STFC, "ornl": ORNL}
