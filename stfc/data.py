"""Torch data over the common readers: dataset, samplers and the LightningDataModule.

- Training: a seeded shuffle that depends only on (seed, epoch), sharded over ranks
  (torch's DistributedSampler, also with one rank), so a resumed run sees the same order.
- Evaluation: each rank reads a disjoint strided shard with NO padding (DistributedSampler
  pads with duplicates, which would be counted twice in the F1); the module all-reduces
  the confusion counts at the end of the epoch, so uneven shards are fine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.normalize import InputNorm
from stemdl.common.data.samples import SampleReader
from stemdl.common.data.transform import model_input


class ReaderDataset(Dataset):
    """A SampleReader as a map-style torch Dataset: (network input float32 (3,H,W), label
    int64), or with `targets` (the density task) (input, target maps float32 (3,H,W));
    raw stacks are preprocessed on the fly (`common.data.transform.model_input`), then `norm`
    (the run's `InputNorm`; None: the 0..255 values as they are) is applied.

    `__getitems__` fetches a whole batch through the reader's `read_batch` where it has
    one (one HDF5 slice instead of `batch` reads); `collate` accepts both forms.
    """

    def __init__(self, reader: SampleReader, indices: Sequence[int] | None = None,
                 norm: InputNorm | None = None, targets: bool = False) -> None:
        self.reader = reader
        self.indices = np.arange(len(reader)) if indices is None else np.asarray(indices)
        self.norm = norm
        self.targets = targets

    def _input(self, stacks: np.ndarray) -> np.ndarray:
        x = model_input(stacks, self.reader.layout)
        return self.norm.apply(x) if self.norm is not None else x

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        sample = self.reader[int(self.indices[i])]
        x = torch.from_numpy(self._input(sample.stack))
        if self.targets:
            return x, torch.from_numpy(self._target(sample.target, int(self.indices[i])))
        return x, int(sample.label)

    def _target(self, target: np.ndarray | None, index: int) -> np.ndarray:
        if target is None:
            raise StemdlError(f"sample {index} of the {self.reader.split} split has no target maps")
        return np.ascontiguousarray(target, dtype=np.float32)

    def __getitems__(self, items: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.indices[np.asarray(items, dtype=np.int64)]
        if hasattr(self.reader, "batch"):  # staging=device: normalized on the device already
            return self.reader.batch(idx)
        read_batch = getattr(self.reader, "read_batch", None)
        if read_batch is not None:
            got = read_batch(idx, targets=True) if self.targets else read_batch(idx)
            stacks, labels = got[0], got[-1]
        else:
            samples = [self.reader[int(i)] for i in idx]
            stacks = np.stack([s.stack for s in samples])
            labels = (np.stack([self._target(s.target, int(i)) for s, i in zip(samples, idx, strict=True)])
                      if self.targets else np.array([s.label for s in samples]))
        stacks = self._input(stacks)
        second = (np.ascontiguousarray(labels, dtype=np.float32) if self.targets
                  else np.asarray(labels, dtype=np.int64))
        return (torch.from_numpy(np.ascontiguousarray(stacks, dtype=np.float32)),
                torch.from_numpy(second))

    def labels(self) -> np.ndarray:
        return np.asarray(self.reader.labels())[self.indices]


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """Inside: a reader's one-line error raised in a DataLoader worker comes out as that one
    line. torch re-raises it in the main process with the worker's whole traceback in its
    message ("Caught DataError in DataLoader worker process 0. Original Traceback ..."),
    whose last line is the original."""
    try:
        yield
    except StemdlError as err:
        text = str(err)
        if "Original Traceback" not in text:
            raise
        last = text.strip().splitlines()[-1]
        prefix = f"{type(err).__module__}.{type(err).__name__}: "
        raise type(err)(last.removeprefix(prefix)) from None


def collate(batch):
    """Batches from `__getitems__` are already stacked; lists of samples are stacked here."""
    if isinstance(batch, tuple):
        return batch
    return torch.utils.data.default_collate(batch)


class ShardSampler(Sampler[int]):
    """Indices rank, rank+world, ... of range(n): disjoint shards, no padding, no shuffle."""

    def __init__(self, n: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.rank, self.world = int(n), int(rank), int(world)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def epoch_to_run(trainer: pl.Trainer) -> int:
    """The epoch (from 0) the fit loop is about to train: the value Lightning gives
    `set_epoch`. On a resumed run it is the checkpoint's `completed` + 1 while
    `current_epoch` still reads `completed` (the checkpoint is written at an epoch's end,
    before that epoch counts as completed)."""
    return int(trainer.fit_loop.epoch_progress.current.processed)


class EpochSampler(DistributedSampler):
    """DistributedSampler's seeded shuffle of (seed, epoch), sharded over ranks, with the
    epoch read from `epoch_of()` when an iteration starts.

    Lightning calls `set_epoch` after a resumed run's first iterator was made: with loader
    workers that iterator has already drawn the first epoch's indices (prefetch) in epoch
    0's order, so a run resumed at epoch 3 trained it in epoch 0's order (measured: loss
    0.0037 where the uninterrupted run had 0.6133). Without workers the indices are drawn
    later, after set_epoch, which is why only runs with workers diverged."""

    def __init__(self, n: int, rank: int, world: int, seed: int,
                 epoch_of: Callable[[], int] | None = None) -> None:
        super().__init__(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed,
                         drop_last=False)
        self.epoch_of = epoch_of

    def __iter__(self) -> Iterator[int]:
        if self.epoch_of is not None:
            self.epoch = int(self.epoch_of())
        return super().__iter__()


def train_sampler(n: int, rank: int, world: int, seed: int,
                  epoch_of: Callable[[], int] | None = None) -> EpochSampler:
    """Seeded shuffle of range(n) sharded over ranks, the order of (seed, epoch) only;
    `epoch_of` (the trainer's current epoch) decides the epoch, else `set_epoch`."""
    return EpochSampler(n, rank, world, seed, epoch_of)


class StemdlDataModule(pl.LightningDataModule):
    """Train/val/test/inference loaders over already-opened readers (any layout)."""

    def __init__(
        self,
        readers: dict[str, SampleReader],
        batch_size: int,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        train_indices: Sequence[int] | None = None,
        pin_memory: bool = False,
        limit_train_batches: int | None = None,
        input_norm: InputNorm | None = None,
        targets: bool = False,
        on_device: bool = False,
    ) -> None:
        super().__init__()
        self.readers = readers
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.pin_memory = pin_memory
        self.limit_train_batches = limit_train_batches
        self.on_device = on_device
        if on_device:  # the batches are gathered on the device: no loader process, no pinning
            self.num_workers, self.pin_memory = 0, False
        self.datasets = {
            split: ReaderDataset(r, train_indices if split == "train" else None, input_norm,
                                 targets=targets and split != "inference")
            for split, r in readers.items()
        }

    def use_readers(self, readers: dict[str, SampleReader]) -> None:
        """Read these (staged) readers from now on, in place of the splits' own."""
        for split, reader in readers.items():
            self.datasets[split].reader = reader

    # rank/world: the trainer's once it is attached (after DDP set-up), else one process
    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _loader(self, split: str, sampler: Sampler, batch_size: int, drop_last: bool) -> DataLoader:
        if split not in self.datasets:
            raise StemdlError(f"no {split} data configured (set {split}_dir or data_dir)")
        return DataLoader(
            self.datasets[split], batch_size=batch_size, sampler=sampler, drop_last=drop_last,
            num_workers=self.num_workers, collate_fn=collate, pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0, prefetch_factor=4 if self.num_workers else None,
        )

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        n = len(self.datasets["train"])
        trainer = getattr(self, "trainer", None)
        epoch_of = (lambda: epoch_to_run(trainer)) if trainer is not None else None
        return self._loader("train", train_sampler(n, rank, world, self.seed, epoch_of),
                            self.batch_size, drop_last=True)

    def _eval_loader(self, split: str) -> DataLoader:
        rank, world = self._rank_world()
        n = len(self.datasets[split]) if split in self.datasets else 0
        return self._loader(split, ShardSampler(n, rank, world), self.eval_batch_size,
                            drop_last=False)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def inference_dataloader(self) -> DataLoader:
        """The whole inference split (else test, else val) on one process, for latency timing."""
        split = next(s for s in ("inference", "test", "val") if s in self.datasets)
        return self._loader(split, ShardSampler(len(self.datasets[split])), self.eval_batch_size,
                            drop_last=False)

    # -- sizes ---------------------------------------------------------------------------
    def steps_per_epoch(self, world: int) -> int:
        per_rank = -(-len(self.datasets["train"]) // world)  # DistributedSampler pads up
        steps = per_rank // self.batch_size
        return min(steps, self.limit_train_batches) if self.limit_train_batches else steps

    def train_samples_per_epoch(self, world: int) -> int:
        """Samples all ranks process in one training epoch (full batches only)."""
        return self.steps_per_epoch(world) * self.batch_size * world


def run_input_norm(mode: str, reader: SampleReader, indices: Sequence[int], seed: int,
                   checkpoint: dict | None = None) -> InputNorm:
    """The run's input normalization: the one a resumed checkpoint recorded, else the
    statistics of the training samples used (`common.data.normalize.compute_norm`)."""
    from stemdl.common.data.normalize import compute_norm

    saved = ((checkpoint or {}).get("hyper_parameters") or {}).get("input_norm")
    if saved:
        return InputNorm.from_dict(saved)
    return compute_norm(mode, reader, indices, seed=seed)
