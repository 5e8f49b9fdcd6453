"""The STFC run configuration: the shared fields plus STFC's own, and the upstream names.

The upstream `stemdlConfig.yaml` loads unchanged: its keys are either our field names
(train_dir, seed, learning_rate, epochs, resnet, nodes, organisation, ...) or aliases
(batchsize -> batch_size, gpu -> devices, train_split -> train_fraction,
mlperf_logfile -> mlperf_log). Every key has an effect; see docs/STFC.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from stemdl.common.cli.entry import StoreOnce
from stemdl.common.cli.errors import StemdlError, check_choice
from stemdl.common.modelspec import resnet_spec
from stemdl.common.run.config import to_dict
from stemdl.common.run.dryrun import add_dry_run
from stemdl.common.run.runconfig import BaseRunConfig, load_run_config
from stemdl.common.task import get_task

STFC = get_task("classify").recipes["stfc"]  # this implementation's recipe

OPTIMIZERS = ("adam", "adamw", "sgd")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")

# upstream stemdlConfig.yaml name -> our field name
UPSTREAM_ALIASES = {
    "batchsize": "batch_size",
    "gpu": "devices",
    "train_split": "train_fraction",
    "mlperf_logfile": "mlperf_log",
}

# Fields whose change makes a checkpoint "stale": resuming with a different value would
# not continue the same run. (epochs, mode, workers, paths of outputs may change.)



@dataclass
class StfcConfig(BaseRunConfig):
    """STFC recipe settings; the defaults are the closed-division recipe (workload.STFC)."""

    resnet: int = STFC.resnet
    batch_size: int = STFC.batch_size
    learning_rate: float = STFC.learning_rate
    weight_decay: float = STFC.weight_decay
    optimizer: str = STFC.optimizer
    momentum: float = 0.9  # sgd only
    loss: str = STFC.loss  # cross_entropy, or mse on one-hot targets (upstream's; open); density: mse or l1
    input_norm: str = STFC.input_norm  # standardize, unit or none (common/data/normalize.py)
    lr_schedule: str = STFC.lr_schedule  # constant or cosine (common/run/training.py)
    label_smoothing: float = STFC.label_smoothing
    train_fraction: float = 1.0  # upstream train_split: share of training *materials* used
    benchmark: str = "stemdl"  # upstream key; must name this benchmark
    accelerators_per_node: int | None = None  # logged value; None = devices used; 0 = CPU
    # the three output files: relative to run_dir, except where a config without run_dir
    # names them (upstream's `./stemdlLog`: relative to the working folder, as upstream)
    log_file: str = "stemdl.log"  # plain-text run summary
    mlperf_log: str = "mlperf.log"
    model_file: str = "model.pt"  # trained weights (state_dict)
    tensorboard: bool = True
    progress: bool = True
    limit_train_batches: int | None = None  # cap training batches per epoch (smoke tests)
    compile: bool = False  # torch.compile the training step's model (tools/gpu_check.sh measures it)
    channels_last: bool | None = None  # None: where measured faster (bf16 on CPU, stfc/speed.py)
    max_inference_batches: int | None = None  # cap the inference timing loop

    def validate(self) -> None:
        super().validate()
        resnet_spec(self.resnet)  # one-line error for an unknown depth
        check_choice("config key 'optimizer'", self.optimizer, OPTIMIZERS)
        check_choice("config key 'precision'", self.precision, PRECISIONS)
        if not 0.0 < self.train_fraction <= 1.0:
            raise StemdlError(
                f"config key 'train_fraction' (upstream 'train_split'): must be in (0, 1], "
                f"got {self.train_fraction}"
            )
        if self.accelerators_per_node is not None and self.accelerators_per_node < 0:
            raise StemdlError(
                f"config key 'accelerators_per_node': must be >= 0, got {self.accelerators_per_node}"
            )
        for key in ("limit_train_batches", "max_inference_batches"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise StemdlError(f"config key '{key}': must be >= 1, got {value}")
        if self.benchmark.lower() != "stemdl":
            raise StemdlError(f"config key 'benchmark': '{self.benchmark}' is not 'stemdl'")

    def settle_devices(self) -> None:
        """`gpu: 0` (devices 0) or `accelerators_per_node: 0`: train on the CPU."""
        if self.accelerators_per_node == 0 and self.devices is None:
            self.devices = 0
        if self.accelerators_per_node == 0 and self.accelerator == "gpu":
            raise StemdlError("config key 'accelerators_per_node': 0 (CPU) with accelerator=gpu")
        if self.accelerators_per_node == 0:
            self.accelerator = "cpu"
        super().settle_devices()

    IMPL: ClassVar[str] = "stfc"
    OUTPUT_KEYS: ClassVar[tuple[str, ...]] = ("log_file", "mlperf_log", "model_file")
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (*BaseRunConfig.RESUME_FIELDS, "optimizer",
                                                "momentum", "train_fraction", "loss")

    def fingerprint_digest(self) -> str:
        blob = json.dumps(self.fingerprint(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_stfc_config(path: str | os.PathLike[str] | None, overrides: list[str] | tuple = ()) -> StfcConfig:
    """Defaults, then the YAML file (ours or upstream's), then `key=value` overrides; checked."""
    return load_run_config(StfcConfig, path, overrides, aliases=UPSTREAM_ALIASES, recipe=STFC)


def config_dict(config: StfcConfig) -> dict[str, Any]:
    return to_dict(config)


# -- command-line arguments (no torch import: `stemdl --help` stays fast) ------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", action=StoreOnce,
        help="YAML config: ours (configs/stfc/default.yaml) or the upstream stemdlConfig.yaml",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in run_dir from its last checkpoint (a run_dir that holds one "
        "is refused without this flag)",
    )
    add_dry_run(parser)
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="config overrides, e.g. resnet=18 epochs=2 data_dir=DIR run_dir=DIR devices=2",
    )
