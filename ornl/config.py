"""The ORNL run configuration: the shared fields plus the ORNL recipe's, and the
upstream flag and key names mapped onto them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from stemdl.common.cli.errors import StemdlError, check_choice
from stemdl.common.run.runconfig import BaseRunConfig
from stemdl.common.task import get_task

ORNL = get_task("classify").recipes["ornl"]  # this implementation's recipe

PRECISIONS = {
    "32": "float32", "fp32": "float32", "float32": "float32",
    "16-mixed": "mixed_float16", "16": "mixed_float16", "mixed": "mixed_float16",
    "mixed_float16": "mixed_float16",
    "bf16-mixed": "mixed_bfloat16", "bf16": "mixed_bfloat16", "mixed_bfloat16": "mixed_bfloat16",
}

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")

# upstream ORNL names (flags without dashes, and YAML spellings) -> our field names
ALIASES = {
    "base_lr": "learning_rate",
    "lr": "learning_rate",
    "wd": "weight_decay",
    "batchsize": "batch_size",
    "mixup": "mixup_alpha",
    "workers": "num_workers",
    "log_dir": "run_dir",
    "data": "data_dir",
}


@dataclass
class OrnlConfig(BaseRunConfig):
    """`stemdl train ornl` settings; the defaults are the ORNL recipe (closed division)."""

    resnet: int = ORNL.resnet
    batch_size: int = ORNL.batch_size  # per replica
    learning_rate: float = ORNL.learning_rate  # per replica, see scale_lr_by_replicas
    weight_decay: float = ORNL.weight_decay
    scale_lr_by_replicas: bool = ORNL.scale_lr_by_replicas
    warmup_epochs: int = ORNL.warmup_epochs
    dropout: float = ORNL.dropout
    random_erasing_p: float = ORNL.random_erasing_p
    mixup_alpha: float = ORNL.mixup_alpha  # 0: no mixup (upstream --mixup --alpha A sets A)
    input_norm: str = ORNL.input_norm  # standardize, unit or none (common/data/normalize.py)
    lr_schedule: str = ORNL.lr_schedule  # after warm-up: constant or cosine (common/run/training.py)
    label_smoothing: float = ORNL.label_smoothing
    loss: str = ORNL.loss  # classification: cross_entropy; density: l1 (ORNL's) or mse
    strategy: str = "auto"  # auto, default, mirrored, multi_worker
    xla: bool = False  # jit-compile the per-replica steps
    checkpoint_keep: int = 2
    slurm_port_base: int = 8888

    IMPL: ClassVar[str] = "ornl"
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        *BaseRunConfig.RESUME_FIELDS, "scale_lr_by_replicas", "warmup_epochs", "dropout",
        "random_erasing_p", "mixup_alpha", "loss")

    def validate(self) -> None:
        """The shared checks (every number's range is in common/run/numbers.py: dropout in
        [0, 1), random_erasing_p in [0, 1], warm-up, weight decay and mixup >= 0), then
        ORNL's own choices."""
        super().validate()
        check_choice("config key 'precision'", self.precision, PRECISIONS)
        if self.task_spec.target_kind == "array" and self.mixup_alpha > 0:
            raise StemdlError("config key 'mixup_alpha': mixup mixes class labels; the "
                              f"{self.task} task has target maps (use 0)")
        check_choice("config key 'strategy'", self.strategy, STRATEGIES)
        if self.checkpoint_keep < 1:
            raise StemdlError(f"config key 'checkpoint_keep': must be >= 1, got {self.checkpoint_keep}")

    @property
    def mixed_policy(self) -> str:
        return PRECISIONS[self.precision]
