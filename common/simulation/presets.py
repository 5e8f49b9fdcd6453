"""The three presets of `stemdl simulate`: tiny (tests), demo (a laptop), full (a cluster)."""

from __future__ import annotations

from dataclasses import dataclass

from stemdl.common.errors import unknown_name
from stemdl.common.simulation.crystals import FIXED_SPACE_GROUPS
from stemdl.common.workload import MAX_LABEL, MIN_LABEL, RAW_IMAGE_SIZE

# 10 space groups over all crystal systems that pyxtal fills reliably under 10 A.
DEMO_SPACE_GROUPS = (2, 14, 15, 62, 63, 139, 166, 194, 221, 225)
ALL_SPACE_GROUPS = tuple(range(MIN_LABEL, MAX_LABEL + 1))


@dataclass(frozen=True)
class Preset:
    """Defaults of one preset; every field can be overridden on the command line."""

    name: str
    crystals: str  # "fixed" (the ase set) or "random" (pyxtal)
    space_groups: tuple[int, ...]
    materials_per_group: int
    energies: int  # 100 keV, 110 keV, ... (the original used 10)
    size: int  # pixels per side of each pattern


PRESETS = {
    "tiny": Preset("tiny", "fixed", tuple(sorted(set(FIXED_SPACE_GROUPS.values()))), 1, 2, 128),
    "demo": Preset("demo", "random", DEMO_SPACE_GROUPS, 10, 4, 128),
    "full": Preset("full", "random", ALL_SPACE_GROUPS, 100, 10, RAW_IMAGE_SIZE),
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; a one-line StemdlError naming the closest one otherwise."""
    if name not in PRESETS:
        raise unknown_name("preset", name, PRESETS)
    return PRESETS[name]
