"""A small synthetic raw set for the density learning tests: each sample's potential maps
are a few Gaussian "atoms" at random places, and its patterns show them on the log scale
that preprocessing undoes (pattern = exp(20 v - 17), v the map scaled to [0, 1]), so a
network that learned the mapping reproduces the target map; held-out samples are new
random structures. What it tests is the density pipeline (targets aligned with their
inputs through preprocessing, loaders, loss, metric and baseline), not the physics."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

SIZE = 32
LABELS = (2, 14, 194, 225)


def sample(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[:size, :size].astype(np.float64)
    maps = np.zeros((3, size, size))
    for a in range(3):
        for cy, cx in rng.uniform(2, size - 2, (int(rng.integers(3, 7)), 2)):
            maps[a] += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.5**2))
    v = maps / maps.max(axis=(1, 2), keepdims=True)
    patterns = np.exp(20.0 * v - 17.0) * rng.lognormal(0.0, 0.05, v.shape)
    return patterns.astype(np.float32), (1000.0 * maps).astype(np.float32)


def write_split(path: Path, n: int, seed: int, first: int, size: int = SIZE) -> int:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        for m in range(first, first + n):
            patterns, maps = sample(rng, size)
            grp = handle.create_group(f"sample_{m}_0")
            grp.attrs.update({"space_group": np.bytes_(str(LABELS[m % len(LABELS)])),
                              "material": np.bytes_(f"syn-{m:05d}")})
            grp.create_dataset("cbed_stack", data=patterns)
            grp.create_dataset("potential", data=maps)
    return first + n


def write_synthetic_density(root: Path, train: int = 96, val: int = 24, size: int = SIZE) -> Path:
    """root/batch_{train,dev}_0.h5 (raw layout with potentials), held-out validation."""
    root.mkdir(parents=True, exist_ok=True)
    nxt = write_split(root / "batch_train_0.h5", train, seed=11, first=0, size=size)
    write_split(root / "batch_dev_0.h5", val, seed=12, first=nxt, size=size)
    return root
