"""Writers of small data folders in the original layouts, for tests and benchmarks.

`write_raw_folder` writes the ORNL raw layout exactly as the generator does
(``batch_{split}_{rank}.h5``, groups ``sample_{material}_{energy}``, ``cbed_stack``
float32 (3, S, S), all attributes, ``space_group`` as ``np.bytes_``), split by material,
with optional injected faults. `write_npz_folder` writes upstream-style NPZ files
(``sample-N.npz`` with ``data`` and ``label`` only, no material id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

SPLITS = ("train", "dev", "test")
FAULT_KINDS = (
    "no_stack",  # group without cbed_stack
    "no_space_group",  # group without the space_group attribute
    "bad_space_group",  # space_group b'abc'
    "label_out_of_range",  # space_group b'231'
    "nan",  # one NaN pixel
    "inf",  # one +Inf pixel
    "wrong_shape",  # cbed_stack of shape (2, S, S)
    "truncated_file",  # the whole file cut in half
    "not_hdf5",  # the whole file replaced by text
    "leak",  # the sample's material also appears in another split
)


@dataclass(frozen=True)
class Fault:
    """A fault injected into sample ``index`` of file ``batch_{split}_{rank}.h5``.

    File-level kinds (truncated_file, not_hdf5) apply to the whole file; "leak" copies
    the first material of this split into split ``other``.
    """

    kind: str
    split: str = "train"
    rank: int = 0
    index: int = 0
    other: str = "dev"


@dataclass
class RawSample:
    """One sample as written: where it is and what it should read back as."""

    split: str
    file: Path
    group: str
    label: int
    material: str
    fault: str | None = None


@dataclass
class RawFolder:
    """What `write_raw_folder` wrote."""

    root: Path
    files: list[Path] = field(default_factory=list)
    samples: list[RawSample] = field(default_factory=list)

    def good(self, split: str | None = None) -> list[RawSample]:
        """Samples without an injected fault (leaks are good samples), optionally of one split."""
        return [s for s in self.samples if s.fault in (None, "leak")
                and (split is None or s.split == split)]


def random_stack(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 (3, size, size) stack with zeros, tiny values (log floor) and large ones
    (clip at 255)."""
    stack = rng.random((3, size, size), dtype=np.float32) ** 8 * np.float32(1e4)
    stack[:, 0, 0] = 0.0
    return stack


def _attrs(label: int, material: str, energy_kev: int, space_group_as: str) -> dict:
    sg: object = {"bytes": np.bytes_(str(label)), "str": str(label), "int": np.int64(label)}[
        space_group_as
    ]
    return {
        "space_group": sg,
        "material": np.bytes_(material),
        "formula": np.bytes_("SrTiO3"),
        "energy_keV": np.float64(energy_kev),
        "z_dirs": np.array([[0, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.int64),
        "y_dirs": np.array([[0, 1, 0], [1, 0, 0], [1, -1, 0]], dtype=np.int64),
        "semi_angles_rad": np.array([0.008, 0.008, 0.008]),
        "d_hkls_angstrom": np.array([3.9, 2.76, 2.25]),
        "abc_angstrom": np.array([3.905, 3.905, 3.905]),
        "angles_degree": np.array([90.0, 90.0, 90.0]),
    }


def write_raw_folder(
    root: str | Path,
    *,
    materials: dict[str, int] | None = None,
    energies: int = 2,
    size: int = 32,
    ranks: int = 1,
    faults: Iterable[Fault] = (),
    space_group_as: str = "bytes",
    material_attr: bool = True,
    seed: int = 0,
    stacks: Sequence[np.ndarray] | None = None,
) -> RawFolder:
    """Write a raw ORNL-layout folder and return what was written.

    root: folder to write into (created).
    materials: materials per split, e.g. {"train": 6, "dev": 2, "test": 2} (the default);
        material ids are global and disjoint between splits (split by material).
    energies: samples per material (energy_keV = 100, 110, ...).
    size: pattern size S; cbed_stack is float32 (3, S, S).
    ranks: files per split (materials dealt round-robin to batch_{split}_{rank}.h5).
    faults: `Fault`s to inject (see FAULT_KINDS).
    space_group_as: "bytes" (np.bytes_, as the generator writes), "str" or "int".
    material_attr: write the `material` attribute (else readers fall back to {m}).
    seed: random seed for labels and images.
    stacks: optional pool of stacks reused round-robin instead of random ones (fast
        writing of large benchmark sets).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    materials = dict(materials or {"train": 6, "dev": 2, "test": 2})
    faults = list(faults)
    for f in faults:
        if f.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {f.kind!r}; choose from {FAULT_KINDS}")
    folder = RawFolder(root)
    next_material = 0
    split_materials: dict[str, list[int]] = {}
    for split, count in materials.items():
        split_materials[split] = list(range(next_material, next_material + count))
        next_material += count
    labels = {m: int(rng.integers(1, 231)) for m in range(next_material)}
    for f in faults:  # a leaked material: the first of f.split also goes to f.other
        if f.kind == "leak" and split_materials.get(f.split):
            split_materials.setdefault(f.other, []).append(split_materials[f.split][0])
    n_written = 0
    for split, mats in split_materials.items():
        for rank in range(ranks):
            path = root / f"batch_{split}_{rank}.h5"
            mine = mats[rank::ranks]
            index = 0
            with h5py.File(path, "w") as handle:
                for m in mine:
                    for e in range(energies):
                        fault = next((f.kind for f in faults if f.split == split
                                      and f.rank == rank and f.index == index
                                      and f.kind not in ("truncated_file", "not_hdf5", "leak")),
                                     None)
                        group_name = f"sample_{m}_{e}"
                        material = f"mp-{1000 + m}"
                        label = labels[m]
                        grp = handle.create_group(group_name)
                        attrs = _attrs(label, material, 100 + 10 * e, space_group_as)
                        if not material_attr:
                            del attrs["material"]
                        if fault == "no_space_group":
                            del attrs["space_group"]
                        elif fault == "bad_space_group":
                            attrs["space_group"] = np.bytes_("abc")
                        elif fault == "label_out_of_range":
                            attrs["space_group"] = np.bytes_("231")
                        grp.attrs.update(attrs)
                        if stacks is not None:
                            stack = stacks[n_written % len(stacks)]
                        else:
                            stack = random_stack(rng, size)
                        n_written += 1
                        if fault in ("nan", "inf"):
                            stack = stack.copy()
                            stack[1, size // 2, size // 2] = np.nan if fault == "nan" else np.inf
                        elif fault == "wrong_shape":
                            stack = stack[:2]
                        if fault != "no_stack":
                            grp.create_dataset("cbed_stack", data=stack)
                        is_leak = any(f.kind == "leak" and f.other == split and split_materials[
                            f.split][:1] == [m] for f in faults)
                        folder.samples.append(RawSample(
                            split, path, group_name, label,
                            material if material_attr else str(m),
                            fault or ("leak" if is_leak else None),
                        ))
                        index += 1
            folder.files.append(path)
            for f in faults:
                if f.split == split and f.rank == rank and f.kind == "truncated_file":
                    data = path.read_bytes()
                    path.write_bytes(data[: len(data) // 2])
                elif f.split == split and f.rank == rank and f.kind == "not_hdf5":
                    path.write_text("this is not an HDF5 file\n")
    return folder


def write_npz_folder(
    root: str | Path,
    *,
    naming: str = "mlcommons",
    samples: dict[str, int] | None = None,
    size: int = 16,
    with_material: bool = False,
    seed: int = 0,
) -> dict[str, list[int]]:
    """Write upstream-style NPZ folders: ``sample-N.npz`` with ``data`` (3, S, S) float32
    and ``label`` (int64 array of length 1); ``material`` only if ``with_material``.

    naming: "mlcommons" (training/validation/testing) or "ornl" (train/dev/test).
    Returns the labels written per on-disk split folder, in file order.
    """
    root = Path(root)
    names = ("training", "validation", "testing") if naming == "mlcommons" else SPLITS
    counts = samples or {names[0]: 4, names[1]: 2, names[2]: 2}
    rng = np.random.default_rng(seed)
    written: dict[str, list[int]] = {}
    for split, count in counts.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        written[split] = []
        for i in range(count):
            label = int(rng.integers(1, 231))
            extra = {"material": np.array([f"{split}-m{i // 2}"])} if with_material else {}
            np.savez(folder / f"sample-{i}.npz",
                     data=rng.random((3, size, size), dtype=np.float32) * 255,
                     label=np.array([label], dtype=np.int64), **extra)
            written[split].append(label)
    return written
