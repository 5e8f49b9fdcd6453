"""A small synthetic CBED-like set in the raw layout whose classes only show after the
documented log transform, with held-out samples: what the learning tests train on.

Every pattern has a bright central disc (intensity 1) and a ring of faint spots
(1e-3 .. 3e-5 of it) on a 1e-7 background; the class (space group) sets the ring's
radius, each sample draws its own spot count, rotation and radius jitter per pattern.
On a linear scale the spots are invisible next to the disc; after
clip(10 (max(log x, -17) + 17), 0, 255) they stand out. Train and validation samples are
different "materials" (independent draws).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

SIZE = 32
CLASSES = {2: 4.0, 14: 7.0, 194: 10.0, 225: 13.0}  # space group -> ring radius (px)


def pattern(radius: float, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[:size, :size].astype(np.float64) - (size - 1) / 2
    img = 1e-7 * rng.lognormal(0.0, 0.5, (size, size))
    img += np.exp(-(x**2 + y**2) / (2 * 1.5**2))  # the central disc
    spots = int(rng.integers(4, 9))
    turn = rng.uniform(0, 2 * np.pi)
    r = radius + rng.uniform(-0.6, 0.6)
    for k in range(spots):
        a = turn + 2 * np.pi * k / spots
        cx, cy = r * np.cos(a), r * np.sin(a)
        peak = 10.0 ** rng.uniform(-4.5, -3.0)
        img += peak * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.8**2))
    return img.astype(np.float32)


def write_split(path: Path, per_class: int, seed: int, first_material: int) -> int:
    """batch file of `per_class` stacks per class; returns the next material number."""
    rng = np.random.default_rng(seed)
    m = first_material
    with h5py.File(path, "w") as handle:
        for _ in range(per_class):
            for label, radius in CLASSES.items():
                stack = np.stack([pattern(radius, rng) for _ in range(3)])
                grp = handle.create_group(f"sample_{m}_0")
                grp.attrs.update({"space_group": np.bytes_(str(label)),
                                  "material": np.bytes_(f"syn-{m:05d}"),
                                  "energy_keV": np.float64(100.0)})
                grp.create_dataset("cbed_stack", data=stack)
                m += 1
    return m


def write_synthetic(root: Path, train_per_class: int = 24, val_per_class: int = 8) -> Path:
    """root/batch_{train,dev}_0.h5 (raw layout): 4 classes, held-out validation samples."""
    root.mkdir(parents=True, exist_ok=True)
    nxt = write_split(root / "batch_train_0.h5", train_per_class, seed=1, first_material=0)
    write_split(root / "batch_dev_0.h5", val_per_class, seed=2, first_material=nxt)
    return root
