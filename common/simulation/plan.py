"""What a run simulates: materials, their seeds and splits, energies and physics.

Everything about material i (its crystal seed, split) is a function of the run's seed and
the material's (space group, member) only: never of the rank or the number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.simulation.cbed import Physics
from stemdl.common.simulation.crystals import FIXED_NAMES, FIXED_SPACE_GROUPS
from stemdl.common.simulation.presets import ALL_SPACE_GROUPS, get_preset
from stemdl.common.workload import (
    MAX_LABEL,
    MAX_SCAN,
    MIN_LABEL,
    PATTERNS_PER_STACK,
    is_valid_label,
)

FIRST_ENERGY_KEV = 100
ENERGY_STEP_KEV = 10
# Split of the materials (not the samples): every window of 10 consecutive positions holds
# 8 train, 1 dev, 1 test (80/10/10); dev and test come early so tiny sets get one of each.
SPLIT_PATTERN = ("train", "dev", "test") + ("train",) * 7
SPLITS = ("train", "dev", "test")
# The fixed set (6 crystals) is too small for 80/10/10: dealt round the 3 splits, so that
# train and dev each hold 2 space groups (training refuses a one-class split).
FIXED_SPLIT_PATTERN = SPLITS
MIN_SIZE = 16
MAX_MATERIAL_BYTES = 2 * 2**30  # a worker holds one material's patterns before writing
LABELS = f"{MIN_LABEL}..{MAX_LABEL}"


@dataclass(frozen=True)
class MaterialSpec:
    """One planned material; the crystal is made (or found impossible) by the runner."""

    index: int
    space_group: int
    member: int  # j-th material of its space group
    split: str  # train, dev or test (the on-disk names)
    fixed_name: str | None  # name in the fixed ase set, or None for a random crystal
    run_seed: int

    @property
    def material_id(self) -> str:
        return f"sim-{self.index:06d}"

    def seed_sequence(self) -> np.random.SeedSequence:
        """The crystal's seed: depends on (run seed, space group, member) only."""
        return np.random.SeedSequence(self.run_seed, spawn_key=(self.space_group, self.member))


@dataclass(frozen=True)
class Plan:
    preset: str
    crystals: str
    seed: int
    space_groups: tuple[int, ...]
    materials_per_group: int
    energies_kev: tuple[int, ...]
    physics: Physics
    materials: tuple[MaterialSpec, ...] = field(repr=False)

    def manifest(self, world: int) -> dict:
        """What identifies the run's output: a re-run must match it to continue."""
        return {
            "tool": "stemdl simulate",
            "format": 2,  # 2: each sample group carries its potential maps
            "preset": self.preset,
            "crystals": self.crystals,
            "seed": self.seed,
            "space_groups": list(self.space_groups),
            "materials_per_group": self.materials_per_group,
            "materials": len(self.materials),
            "energies_keV": list(self.energies_kev),
            "physics": self.physics.as_dict(),
            "world": world,
        }


def check_scan(scan: int, size: int, energies: int) -> None:
    """--scan N in 1..MAX_SCAN, and one material's patterns (all energies, float32, held
    in memory until written) within MAX_MATERIAL_BYTES."""
    if not 1 <= scan <= MAX_SCAN:
        raise StemdlError(f"--scan must be in 1..{MAX_SCAN} probe positions per side, got {scan}")
    need = energies * PATTERNS_PER_STACK * scan**2 * size**2 * 4
    if need > MAX_MATERIAL_BYTES:
        raise StemdlError(
            f"--scan {scan}: {energies} energies x {PATTERNS_PER_STACK * scan**2} patterns of "
            f"{size} px are {need / 2**30:.1f} GiB per material, more than "
            f"{MAX_MATERIAL_BYTES / 2**30:.0f} GiB; use fewer positions, energies or pixels")


def parse_space_groups(text: str) -> tuple[int, ...]:
    """'all', or a comma list of numbers and ranges ('1-10,225') -> sorted unique groups."""
    if text.strip().lower() == "all":
        return ALL_SPACE_GROUPS
    groups: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise StemdlError(
                f"--space-groups: '{part}' is not a space group (give numbers {LABELS}, "
                "ranges like 1-10, or all)"
            ) from None
        for number in (first, last):
            if not is_valid_label(number):
                raise StemdlError(f"--space-groups: unknown space group {number} (valid: {LABELS})")
        if first > last:
            raise StemdlError(f"--space-groups: empty range '{part}'")
        groups.update(range(first, last + 1))
    return tuple(sorted(groups))


def make_plan(
    preset: str,
    seed: int = 0,
    space_groups: str | None = None,
    materials_per_group: int | None = None,
    energies: int | None = None,
    size: int | None = None,
    scan: int = 1,
) -> Plan:
    """The run's plan from a preset and overrides; a one-line StemdlError for bad values."""
    base = get_preset(preset)
    groups = base.space_groups if space_groups is None else parse_space_groups(space_groups)
    n_energies = base.energies if energies is None else energies
    px = base.size if size is None else size
    if n_energies < 1:
        raise StemdlError(f"--energies must be at least 1, got {n_energies}")
    if px < MIN_SIZE or px % 2:
        raise StemdlError(f"--size must be an even number of pixels >= {MIN_SIZE}, got {px}")
    if seed < 0:
        raise StemdlError(f"--seed must be >= 0, got {seed}")
    check_scan(scan, px, n_energies)

    materials: list[MaterialSpec] = []
    if base.crystals == "fixed":
        if materials_per_group not in (None, 1):
            raise StemdlError(
                f"--materials-per-group: preset '{preset}' uses the fixed crystal set "
                "(one crystal per structure); use --preset demo, study or full for more"
            )
        per_group = 1
        names = [n for n in FIXED_NAMES if FIXED_SPACE_GROUPS[n] in groups]
        if not names:
            raise StemdlError(
                f"--space-groups: no crystal of preset '{preset}' has these space groups "
                f"(its groups: {sorted(set(FIXED_SPACE_GROUPS.values()))})"
            )
        for i, name in enumerate(names):
            split = FIXED_SPLIT_PATTERN[i % len(FIXED_SPLIT_PATTERN)]
            materials.append(MaterialSpec(i, FIXED_SPACE_GROUPS[name], 0, split, name, seed))
    else:
        per_group = base.materials_per_group if materials_per_group is None else materials_per_group
        if per_group < 1:
            raise StemdlError(f"--materials-per-group must be at least 1, got {per_group}")
        for g_index, group in enumerate(groups):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(group, 1_000_000)))
            order = rng.permutation(per_group)
            offset = int(rng.integers(len(SPLIT_PATTERN)))
            for j in range(per_group):
                split = SPLIT_PATTERN[(int(order[j]) + offset) % len(SPLIT_PATTERN)]
                index = g_index * per_group + j
                materials.append(MaterialSpec(index, group, j, split, None, seed))

    return Plan(
        preset=preset,
        crystals=base.crystals,
        seed=seed,
        space_groups=groups,
        materials_per_group=per_group,
        energies_kev=tuple(FIRST_ENERGY_KEV + ENERGY_STEP_KEV * k for k in range(n_energies)),
        physics=Physics(size=px, scan=scan),
        materials=tuple(materials),
    )
