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
    """One CBED stack: float32 (3, H, W), its space group (1..230), its material id."""

    stack: np.ndarray
    label: int
    material: str


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


class FirstN:
    """The first `n` samples of a reader (config keys train_samples / eval_samples)."""

    def __init__(self, reader: SampleReader, n: int) -> None:
        self._reader, self._n = reader, int(n)
        self.layout, self.split = reader.layout, reader.split

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> Sample:
        return self._reader[range(self._n)[index]]

    def labels(self) -> np.ndarray:
        return self._reader.labels()[: self._n]

    def materials(self) -> list[str]:
        return self._reader.materials()[: self._n]

    def image_shape(self) -> tuple[int, int, int]:
        return self._reader.image_shape()
