"""Checkpoints in `run_dir/checkpoints` (tf.train.CheckpointManager), resumed only on request.

Whether a run folder may be used (an earlier run without --resume, --resume with nothing
to resume) is decided by the common policy, `common.run.rundir.check_run_dir`.

Next to them, `checkpoints/model.json` (written before the first checkpoint) holds what
rebuilds the network (depth, input channels, classes, dropout, image size) and the input
normalization the run feeds, so that evaluation and resume never depend on the config
that results.json only holds once a run has finished.
Under MultiWorkerMirroredStrategy every worker saves (the save is collective); only the
chief's copy is kept, the others write to a scratch folder that is removed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.normalize import InputNorm, compute_norm
from stemdl.common.infra.atomic import write_text_atomic
from stemdl.common.run.results import CHECKPOINT_DIR

MODEL_SPEC_FILE = "model.json"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def has_checkpoint(run_dir: str | Path) -> bool:
    """True when `run_dir/checkpoints` holds a CheckpointManager index (no TF import)."""
    return (checkpoint_dir(run_dir) / "checkpoint").is_file()


def checkpointed_epoch(run_dir: str | Path) -> int | None:
    """The epoch of the latest checkpoint, from the `checkpoint` index file (no TF import;
    checkpoints are numbered by epoch); None if there is none or it cannot be read."""
    try:
        text = (checkpoint_dir(run_dir) / "checkpoint").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(r'^model_checkpoint_path:\s*"[^"]*?ckpt-(\d+)"', text, flags=re.MULTILINE)
    return int(match.group(1)) if match else None


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
        try:
            self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                                      max_to_keep=keep)
        except ValueError:  # it reads the `checkpoint` index file, which is empty
            raise StemdlError(f"--resume: no readable checkpoint in {self.main_dir} (its "
                              "`checkpoint` index file is missing, empty or damaged)") from None

    def latest(self) -> str | None:
        return self._tf.train.latest_checkpoint(str(self.main_dir))

    def restore(self) -> int:
        """Restore the latest checkpoint of the run; returns the last finished epoch."""
        try:
            path = self.latest()
        except ValueError:  # an empty `checkpoint` index file
            path = None
        if path is None:
            raise StemdlError(f"--resume: no readable checkpoint in {self.main_dir} (its "
                              "`checkpoint` index file is missing, empty or damaged)")
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (self._tf.errors.OpError, ValueError, AssertionError, IndexError) as err:
            # IndexError: a truncated data file ("Read less bytes than requested")
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
