"""Checkpoints in `run_dir/checkpoints` (tf.train.CheckpointManager), resumed only on request.

Whether a run folder may be used (an earlier run without --resume, --resume with nothing
to resume) is decided by the common policy, `common.rundir.check_run_dir`.
Under MultiWorkerMirroredStrategy every worker saves (the save is collective); only the
chief's copy is kept, the others write to a scratch folder that is removed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from stemdl.common.errors import StemdlError
from stemdl.common.results import CHECKPOINT_DIR


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
