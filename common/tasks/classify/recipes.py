"""Classification's two reference recipes (closed division), stated once.

Implementations read these; they never restate them (AlgoPerf-style workload card).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stemdl.common.tasks.classify.facts import NUM_LOGITS
from stemdl.common.workload import INPUT_IMAGE_SIZE, PATTERNS_PER_STACK


@dataclass(frozen=True)
class StfcRecipe:
    """STFC's recipe (closed division): 3 patterns as 3 channels, ResNet-50, Adam.

    Upstream used MSE on one-hot labels, a defect: we use cross-entropy.
    """

    name: str = "stfc"
    resnet: int = 50
    in_channels: int = PATTERNS_PER_STACK
    image_size: int = INPUT_IMAGE_SIZE
    num_logits: int = NUM_LOGITS
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 32  # per process
    loss: str = "cross_entropy"  # open division: "mse" (upstream's, on one-hot targets)
    weight_decay: float = 0.0
    dropout: float = 0.0
    input_norm: str = "none"  # 0..255, as upstream; open division: standardize, unit
    lr_schedule: str = "constant"  # open division: "cosine" (decays to 0 over the epochs)
    label_smoothing: float = 0.0
    losses: tuple[str, ...] = ("cross_entropy", "mse")  # the config's loss choices


@dataclass(frozen=True)
class OrnlRecipe:
    """ORNL's recipe (closed division): one random pattern per sample in training,
    logits averaged over the 3 patterns in evaluation, ResNet-50 with a 1-channel stem.
    """

    name: str = "ornl"
    resnet: int = 50
    in_channels: int = 1
    image_size: int = INPUT_IMAGE_SIZE
    num_logits: int = NUM_LOGITS
    optimizer: str = "adamw"
    learning_rate: float = 1e-3  # per replica: scaled linearly by the number of replicas
    scale_lr_by_replicas: bool = True
    weight_decay: float = 5e-5
    warmup_epochs: int = 5
    batch_size: int = 32  # per replica
    loss: str = "cross_entropy"
    input_norm: str = "unit"  # x / 255 (upstream fed 0..255); open: standardize, none
    lr_schedule: str = "constant"  # after warm-up; open division: "cosine"
    label_smoothing: float = 0.0
    dropout: float = 0.5  # on the pooled features, before the logits
    random_erasing_p: float = 0.8
    mixup_alpha: float = 0.0  # optional; 0 disables it
    losses: tuple[str, ...] = ("cross_entropy",)  # the config's loss choices
    train_patterns: str = "one_random"  # one randomly chosen pattern of the 3 per sample
    eval_patterns: str = "mean_logits"  # logits averaged over the 3 patterns
    extra: dict = field(default_factory=dict)


STFC = StfcRecipe()
ORNL = OrnlRecipe()
RECIPES = {"stfc": STFC, "ornl": ORNL}
