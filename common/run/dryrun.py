"""`--dry-run`: check a job before it is queued, then stop.

`stemdl train stfc|ornl --dry-run` loads and validates the config, opens and checks the
data (the same `open_run_splits` as a run), applies the run-folder and resume policy, and
prints the plan: run folder, splits and sample counts, model, epochs, batch, devices. It
trains nothing, writes nothing and exits 0; every error is the one a real run would give.
`stemdl simulate --dry-run` does the same for a simulation plan.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stemdl.common.data.transform import reader_input_size

DRY_RUN_HELP = ("check the config, the data and the run folder, print the plan, and exit "
                "without training or writing anything")


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    """The `--dry-run` switch (default None, so an upstream-flag parser can tell it apart)."""
    parser.add_argument("--dry-run", action="store_true", default=None, help=DRY_RUN_HELP)


def split_line(split: str, reader: Any) -> str:
    """`train: 48 samples, 4 space groups, 3x32x32, npz` for one opened split."""
    labels = np.asarray(reader.labels())
    shape = "x".join(str(n) for n in reader.image_shape())
    where = getattr(reader, "folder", None)
    return (f"  {split}: {len(reader)} samples, {np.unique(labels).size} space groups, "
            f"{shape}, {reader.layout}" + (f" ({where})" if where else ""))


def train_plan(impl: str, config: Any, run_dir: Path, readers: Mapping[str, Any], *,
               processes: int | None, devices: str, resume_from: Path | None,
               extra: Mapping[str, Any] | None = None) -> str:
    """The plan of a training run as text (what `--dry-run` prints).

    processes: data-parallel processes/replicas, if known before the framework starts.
    """
    lines = [f"{impl} dry run: config, data and run folder checked; nothing trained, nothing "
             "written"]
    lines.append(f"  run folder: {run_dir}" + (f" (resume from {resume_from})" if resume_from
                                               else " (new run)"))
    lines.extend(split_line(split, reader) for split, reader in readers.items())
    skipped = [s for s in ("test", "inference") if s not in readers]
    if skipped:
        lines.append(f"  skipped phases: {', '.join(skipped)}")
    batch = config.batch_size
    n_train = len(readers["train"])
    if processes:
        global_batch = batch * processes
        batch_text = (f"batch {batch} per process x {processes} = {global_batch} global, "
                      f"{max(1, n_train // global_batch)} steps per epoch")
    else:
        batch_text = f"batch {batch} per replica (replicas: decided when the framework starts)"
    task = config.task_spec
    size = reader_input_size(readers["train"])
    lines.append(f"  task: {task.name}; model: {config.model_spec(size).name}; {config.epochs} epochs (mode "
                 f"{config.mode}, target {task.label(task.primary_metric)} {config.target:g}); "
                 f"{batch_text}")
    lines.append(f"  optimizer: {getattr(config, 'optimizer', 'adamw')}, learning rate "
                 f"{config.learning_rate:g}, weight decay {config.weight_decay:g}")
    for key, value in (extra or {}).items():
        lines.append(f"  {key}: {value}")
    lines.append(f"  devices: {devices}; precision {config.precision}; seed {config.seed}; "
                 f"division {config.division}")
    return "\n".join(lines)
