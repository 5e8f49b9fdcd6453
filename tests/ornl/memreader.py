"""A tiny in-memory SampleReader for the ORNL tests (no files, separable classes, and
target maps for the density task)."""

from __future__ import annotations

import numpy as np

from stemdl.common.data.samples import Sample


class MemoryReader:
    """`n` stacks of (3, size, size) in [0, 255]; class k lights up a k-dependent block,
    so the classes are separable from any one of the 3 patterns."""

    layout = "npz"

    def __init__(self, n: int = 48, size: int = 32, classes: tuple[int, ...] = (3, 17, 225),
                 seed: int = 0, split: str = "train") -> None:
        rng = np.random.default_rng(seed)
        self.split = split
        self._labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=np.int64)
        stacks = rng.uniform(0, 40, size=(n, 3, size, size)).astype(np.float32)
        cell = size // len(classes)
        for i, label in enumerate(self._labels):
            k = classes.index(int(label))
            stacks[i, :, k * cell:(k + 1) * cell, :] += 200.0
        self._stacks = np.clip(stacks, 0, 255)
        self._materials = [f"m{i // 2}" for i in range(n)]
        # the density task's target maps: each pattern z-scored (a function of the input)
        mean = self._stacks.mean(axis=(2, 3), keepdims=True)
        std = self._stacks.std(axis=(2, 3), keepdims=True)
        self._targets = ((self._stacks - mean) / std).astype(np.float32)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> Sample:
        return Sample(self._stacks[index], int(self._labels[index]), self._materials[index],
                      self._targets[index])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return list(self._materials)

    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self._stacks.shape[1:])  # type: ignore[return-value]

    def target_kind(self) -> str:
        return "potential"
