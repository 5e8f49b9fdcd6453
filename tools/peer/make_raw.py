#!/usr/bin/env python3
"""Write a raw data set in ORNL's original HDF5 layout for speed measurements.

Layout (what ORNL's generator wrote): one file per split and rank, batch_{split}_{rank}.h5,
one group per sample `sample_{material}_{energy}` holding dataset `cbed_stack`
(3, PX, PX) float32 (contiguous, uncompressed) and attributes written as numpy byte strings
(space_group b'225', material, formula) plus the numeric attributes.

Two views of the same files are made:
  OUT/flat/batch_{train,dev,test}_{rank}.h5        real files (read by `stemdl preprocess`)
  OUT/split/{train,dev,test}/batch_*.h5            symlinks (upstream ORNL preprocessor layout)

Content: random positive intensities exp(U(-20, 9)) with ~1% exact zeros, so that both
clip ends of the log transform (log < -17 -> 0, log > 8.5 -> 255) and log(0) are exercised.
Samples: N in total, 2 energies per material, split by material 70/15/15 (train/dev/test),
materials dealt to ranks round-robin; ranks = ceil(N / SAMPLES_PER_RANK) so that the file
size stays the same when N grows (more ranks, as on the original generator).

usage: make_raw.py OUT --n N [--px 512] [--per-rank 125] [--jobs 2] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import os
from concurrent.futures import ProcessPoolExecutor

import h5py
import numpy as np

ENERGIES = 2


def plan(n: int, per_rank: int, seed: int):
    """-> list of (split, rank, [(material, energy, space_group), ...]) and the rank count."""
    rng = np.random.default_rng(seed)
    materials = math.ceil(n / ENERGIES)
    groups = rng.integers(1, 231, size=materials)  # space group of each material
    samples = [(m, e, int(groups[m])) for m in range(materials) for e in range(ENERGIES)][:n]
    ranks = max(1, math.ceil(n / per_rank))
    n_train, n_dev = int(round(materials * 0.70)), int(round(materials * 0.15))
    def split_of(m):
        return "train" if m < n_train else ("dev" if m < n_train + n_dev else "test")
    files: dict[tuple[str, int], list] = {}
    for m, e, sg in samples:
        split = split_of(m)
        files.setdefault((split, m % ranks), []).append((m, e, sg))
    return [(s, r, v) for (s, r), v in sorted(files.items())], ranks


def write_file(args):
    out, split, rank, samples, px, seed = args
    rng = np.random.default_rng([seed, rank, {"train": 0, "dev": 1, "test": 2}[split]])
    path = os.path.join(out, "flat", f"batch_{split}_{rank}.h5")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for m, e, sg in samples:
            u = rng.random((3, px, px), dtype=np.float32)
            stack = np.exp(u * np.float32(29.0) - np.float32(20.0))
            stack[rng.random((3, px, px), dtype=np.float32) < 0.01] = 0.0
            g = f.create_group(f"sample_{m}_{e}")
            g.attrs["space_group"] = np.bytes_(str(sg))
            g.attrs["material"] = np.bytes_(f"mp-{100000 + m}")
            g.attrs["energy_keV"] = 100 + 25 * e
            g.create_dataset("cbed_stack", data=stack)
            g.attrs["z_dirs"] = np.dstack([[0, 0, 1], [0, 1, 1], [1, 1, 1]])
            g.attrs["y_dirs"] = np.dstack([[0, 1, 0], [1, 0, 0], [1, -1, 0]])
            g.attrs["semi_angles_rad"] = np.array([0.003, 0.003, 0.003])
            g.attrs["d_hkls_angstrom"] = np.array([2.0, 1.4, 1.2])
            g.attrs["abc_angstrom"] = np.array([4.0, 4.0, 4.0])
            g.attrs["angles_degree"] = np.array([90.0, 90.0, 90.0])
            g.attrs["formula"] = np.bytes_("NaCl")
    os.replace(tmp, path)
    link_dir = os.path.join(out, "split", split)
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, os.path.basename(path))
    if not os.path.lexists(link):
        os.symlink(os.path.join("..", "..", "flat", os.path.basename(path)), link)
    return split, rank, len(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--px", type=int, default=512)
    ap.add_argument("--per-rank", type=int, default=125, help="samples per rank (all splits)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "flat"), exist_ok=True)
    files, ranks = plan(a.n, a.per_rank, a.seed)
    work = [(a.out, s, r, v, a.px, a.seed) for s, r, v in files]
    counts: dict[str, int] = {}
    with ProcessPoolExecutor(a.jobs) as pool:
        for split, _rank, k in pool.map(write_file, work):
            counts[split] = counts.get(split, 0) + k
    print(f"{a.out}: {sum(counts.values())} samples in {len(files)} files ({ranks} ranks): {counts}")


if __name__ == "__main__":
    main()
