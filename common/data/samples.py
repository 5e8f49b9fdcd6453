"""The framework-neutral sample interface every reader implements.

A reader is a random-access sequence of `Sample`s for one split of one folder.
Readers open their files lazily (per process), so a reader built in the parent
can be handed to DataLoader/tf.data worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One CBED stack: float32 (3, H, W), its space group (1..230), its material id and,
    in data preprocessed for the density task, its target maps float32 (3, H, W)."""

    stack: np.ndarray
    label: int
    material: str
    target: np.ndarray | None = None


@runtime_checkable
class SampleReader(Protocol):
    """Random access to one split; `labels`/`materials` never read image data."""

    layout: str  # "raw", "npz" or "packed"
    split: str  # canonical split name: train, val, test or inference

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def labels(self) -> np.ndarray:
        """int64 array of the labels of all samples, in index order."""
        ...

    def materials(self) -> list[str]:
        """Material id of every sample, in index order."""
        ...

    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one stack, e.g. (3, 128, 128)."""
        ...

    def target_kind(self) -> str | None:
        """The density task's target maps the split holds (potential, patterson; raw:
        "raw", maps that preprocessing turns into targets), or None."""
        ...


class Subset:
    """The samples `indices` of a reader, in that order (config keys train_samples /
    eval_samples pick a seeded subset, see `splits.select_indices`). Picklable, so it can
    go to DataLoader / tf.data workers; `read_batch` is forwarded where the reader has one."""

    def __init__(self, reader: SampleReader, indices) -> None:
        self._reader = reader
        self._indices = np.asarray(indices, dtype=np.int64)
        self.layout, self.split = reader.layout, reader.split
        self.folder = getattr(reader, "folder", None)
        if hasattr(reader, "read_batch"):
            self.read_batch = self._read_batch

    def __len__(self) -> int:
        return int(self._indices.size)

    def __getitem__(self, index: int) -> Sample:
        return self._reader[int(self._indices[index])]

    def _read_batch(self, indices, targets: bool = False):
        rows = self._indices[np.asarray(indices, dtype=np.int64)]
        return self._reader.read_batch(rows, targets=True) if targets else self._reader.read_batch(rows)

    def target_kind(self) -> str | None:
        return self._reader.target_kind()

    def labels(self) -> np.ndarray:
        return np.asarray(self._reader.labels())[self._indices]

    def materials(self) -> list[str]:
        materials = self._reader.materials()
        return [materials[i] for i in self._indices]

    def image_shape(self) -> tuple[int, int, int]:
        return self._reader.image_shape()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("read_batch", None)  # a bound method: rebuilt on unpickling
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if hasattr(self._reader, "read_batch"):
            self.read_batch = self._read_batch


class FirstN(Subset):
    """The first `n` samples of a reader (a short warm-up batch for inference timing)."""

    def __init__(self, reader: SampleReader, n: int) -> None:
        super().__init__(reader, np.arange(int(n)))
