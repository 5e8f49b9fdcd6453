"""The presets of `stemdl simulate`: tiny (tests), demo (a laptop), study (a small cluster
job), full (a cluster)."""

from __future__ import annotations

from dataclasses import dataclass

from stemdl.common.cli.errors import unknown_name
from stemdl.common.simulation.crystals import FIXED_SPACE_GROUPS
from stemdl.common.workload import MAX_LABEL, MIN_LABEL, RAW_IMAGE_SIZE

# 10 space groups over all crystal systems that pyxtal fills reliably under 10 A.
DEMO_SPACE_GROUPS = (2, 14, 15, 62, 63, 139, 166, 194, 221, 225)
ALL_SPACE_GROUPS = tuple(range(MIN_LABEL, MAX_LABEL + 1))
# 71 space groups over all 7 crystal systems, among those pyxtal fills under 10 A with
# seed 0 (docs/SIMULATION.md lists the groups that gave no crystal): the study preset.
STUDY_SPACE_GROUPS = (
    1, 2,  # triclinic
    4, 5, 7, 9, 11, 12, 13, 14, 15,  # monoclinic
    19, 29, 31, 33, 36, 43, 55, 56, 58, 60, 61, 62, 63, 64, 65, 71, 72, 74,  # orthorhombic
    82, 87, 88, 92, 99, 113, 121, 122, 123, 127, 129, 136, 139, 140, 141,  # tetragonal
    146, 147, 148, 150, 155, 160, 161, 164, 166, 167,  # trigonal
    173, 176, 186, 187, 189, 191, 193, 194,  # hexagonal
    198, 205, 216, 217, 221, 223, 225, 227, 229,  # cubic
)


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
    # 500 materials x 2 energies at 64 px: 800 train / 100 dev / 100 test stacks, the
    # dev and test materials held out; sized so that `make demo` converges on 2 cores
    "demo": Preset("demo", "random", DEMO_SPACE_GROUPS, 50, 2, 64),
    # 71 groups x 100 materials x 4 energies at 128 px: 28,400 stacks (22,720 train), about
    # 5.6 CPU-hours and 5.7 GB; a cluster job over --rank/--world (docs/SIMULATION.md)
    "study": Preset("study", "random", STUDY_SPACE_GROUPS, 100, 4, 128),
    "full": Preset("full", "random", ALL_SPACE_GROUPS, 100, 10, RAW_IMAGE_SIZE),
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; a one-line StemdlError naming the closest one otherwise."""
    if name not in PRESETS:
        raise unknown_name("preset", name, PRESETS)
    return PRESETS[name]
