"""Checkpoints in `run_dir/checkpoints` (tf.train.CheckpointManager), resumed only on request.

Next to them, `checkpoints/model.json` (written before the first checkpoint) holds what
rebuilds the network (depth, input channels, classes, dropout, image size) and the input
normalization the run feeds, so that evaluation and resume never depend on the config
that results.json only holds once a run has finished.

A run folder that already holds a checkpoint is refused unless --resume is given, and
--resume with nothing to resume is refused too: no silent auto-resume from stale files.
Under MultiWorkerMirroredStrategy every worker saves (the save is collective); only the
chief's copy is kept, the others write to a scratch folder that is removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from stemdl.common.atomic import write_text_atomic
from stemdl.common.data.normalize import InputNorm, compute_norm
from stemdl.common.errors import StemdlError

CHECKPOINT_DIR = "checkpoints"
MODEL_SPEC_FILE = "model.json"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def has_checkpoint(run_dir: str | Path) -> bool:
    """True when `run_dir/checkpoints` holds a CheckpointManager index (no TF import)."""
    return (checkpoint_dir(run_dir) / "checkpoint").is_file()


def check_resume(run_dir: str | Path, resume: bool) -> None:
    """Refuse a stale checkpoint without --resume, and --resume without a checkpoint."""
    present = has_checkpoint(run_dir)
    if present and not resume:
        raise StemdlError(
            f"{checkpoint_dir(run_dir)} already holds a checkpoint; pass --resume to continue "
            "that run, or choose another run_dir"
        )
    if resume and not present:
        raise StemdlError(f"--resume: no checkpoint to resume in {checkpoint_dir(run_dir)}")


class Checkpointer:
    """Model + optimizer (+ the epoch reached) saved after every epoch."""

    def __init__(self, run_dir: str | Path, model, optimizer, *, is_chief: bool = True,
                 task_id: int = 0, keep: int = 2) -> None:
        import tensorflow as tf

        self._tf = tf
        self.main_dir = checkpoint_dir(run_dir)
        self.is_chief = is_chief
        self.directory = self.main_dir if is_chief else self.main_dir / f".worker-{task_id}"
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # Keras SeedGenerator states (dropout masks) are not tracked by the model: keep them
        # too, so a resumed run draws the masks an uninterrupted run would have drawn
        seeds = {
            f"{layer.name}": layer.seed_generator.state.value
            for layer in model.layers
            if getattr(layer, "seed_generator", None) is not None
        }
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch,
                                              seeds=seeds)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                                  max_to_keep=keep)

    def latest(self) -> str | None:
        return self._tf.train.latest_checkpoint(str(self.main_dir))

    def restore(self) -> int:
        """Restore the latest checkpoint of the run; returns the last finished epoch."""
        path = self.latest()
        if path is None:
            raise StemdlError(f"--resume: no checkpoint to resume in {self.main_dir}")
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (self._tf.errors.OpError, ValueError, AssertionError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise StemdlError(f"{path}: corrupt or incompatible checkpoint ({first[:200]})") from None
        return int(self.epoch.numpy())

    def save(self, epoch: int) -> str | None:
        """Save after `epoch` (1-based); returns the chief's checkpoint path."""
        self.epoch.assign(epoch)
        path = self.manager.save(checkpoint_number=epoch)
        if not self.is_chief:
            shutil.rmtree(self.directory, ignore_errors=True)
            return None
        return path


def write_model_spec(run_dir: str | Path, spec: dict[str, Any]) -> Path:
    """`checkpoints/model.json`: the network's build arguments and input normalization."""
    return write_text_atomic(checkpoint_dir(run_dir) / MODEL_SPEC_FILE,
                             json.dumps(spec, indent=1) + "\n")


def read_model_spec(run_dir: str | Path) -> dict[str, Any] | None:
    """The spec `write_model_spec` left, or None (a run from before it was written)."""
    path = checkpoint_dir(run_dir) / MODEL_SPEC_FILE
    if not path.is_file():
        return None
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StemdlError(f"{path}: unreadable model description ({err})") from None
    if not isinstance(spec, dict) or "resnet" not in spec:
        raise StemdlError(f"{path}: not a model description (no 'resnet')")
    return spec


def run_input_norm(mode: str, train_reader, seed: int, resume_dir: str | Path | None) -> InputNorm:
    """The normalization a resumed run recorded, else the training split's (`compute_norm`)."""
    spec = read_model_spec(resume_dir) if resume_dir is not None else None
    if spec and spec.get("input_norm"):
        return InputNorm.from_dict(spec["input_norm"])
    return compute_norm(mode, train_reader, seed=seed)
