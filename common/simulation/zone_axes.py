"""Zone axes: 3 low-index beam directions per crystal, no two equivalent by its symmetry.

Directions are integer [uvw] in the basis of the crystal's own (conventional) cell. Two
directions are equivalent when a point-group rotation of the crystal maps one onto the
other or onto its opposite (a pattern seen from the back is the same zone).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from stemdl.common.simulation.crystals import symmetry_rotations

AXES_PER_MATERIAL = 3
MAX_INDEX = 3  # candidate [uvw] have |u|,|v|,|w| <= MAX_INDEX
DISC_FILL = 0.8  # disc diameter / nearest disc spacing: < 1 so zero-order discs never overlap
# In a scan, neighbouring discs overlap (as in ORNL's 4D-STEM data): their interference
# depends on where the probe sits, which is what makes the potential recoverable.
SCAN_DISC_FILL = 1.5
MAX_HKL = 8  # reflections searched for the largest ZOLZ spacing


@dataclass(frozen=True)
class ZoneAxis:
    """A beam direction and the orientation of the pattern around it."""

    z_dir: tuple[int, int, int]  # beam direction [uvw] (direct lattice)
    y_dir: tuple[int, int, int]  # lattice direction whose projection points along +y
    rotation: np.ndarray  # (3, 3) rows: unit x, y, z (cartesian) of the simulation frame
    d_hkl: float  # largest lattice-plane spacing in the zero-order Laue zone (Angstrom)

    def semi_angle(self, wavelength: float, fill: float = DISC_FILL) -> float:
        """Probe semi-angle (rad) at which a disc's diameter is `fill` of the disc spacing.

        Disc centres are 1/d apart in reciprocal space and a disc's radius is alpha/lambda,
        so alpha = fill * lambda / (2 d) leaves a gap of (1 - fill) / d (DISC_FILL: no
        overlap) or overlaps neighbours by (fill - 1) / d (SCAN_DISC_FILL).
        """
        return fill * wavelength / (2.0 * self.d_hkl)


def _candidates(cell: np.ndarray) -> list[tuple[int, int, int]]:
    """Primitive integer directions, one sign each, shortest (lowest index) first."""
    found = []
    for uvw in itertools.product(range(-MAX_INDEX, MAX_INDEX + 1), repeat=3):
        if uvw == (0, 0, 0) or math.gcd(*uvw) != 1:
            continue
        first = next(c for c in uvw if c != 0)
        if first < 0:
            continue
        length = float(np.linalg.norm(np.dot(uvw, cell)))
        found.append((round(length, 4), sum(map(abs, uvw)), tuple(-c for c in uvw[::-1]), uvw))
    found.sort()
    return [item[-1] for item in found]


def _equivalent(a: tuple[int, ...], b: tuple[int, ...], rotations: np.ndarray) -> bool:
    mapped = rotations @ np.asarray(a)
    target = np.asarray(b)
    return bool(np.any(np.all(mapped == target, axis=1) | np.all(mapped == -target, axis=1)))


def _centring_translations(atoms) -> np.ndarray:
    """Lattice-centring vectors (fractional) of the cell: pure translations of the group."""
    from stemdl.common.simulation.crystals import symmetry_dataset

    sym = symmetry_dataset(atoms)
    identity = np.all(sym.rotations == np.eye(3, dtype=int), axis=(1, 2))
    shifts = np.mod(np.round(sym.translations[identity], 6), 1.0)
    return np.unique(shifts, axis=0)


def largest_zolz_spacing(atoms, z_dir: tuple[int, int, int]) -> float:
    """The largest d of reflections h.uvw = 0 that lattice centring does not forbid.

    Discs sit at every such reflection; centring absences are exact (no double diffraction
    can fill them), so the nearest disc spacing is 1/d. Glide/screw absences are not
    removed, which can only make the chosen discs smaller, never overlapping.
    """
    hkl = np.array(list(itertools.product(range(-MAX_HKL, MAX_HKL + 1), repeat=3)))
    hkl = hkl[(hkl @ np.asarray(z_dir) == 0) & np.any(hkl != 0, axis=1)]
    shifts = _centring_translations(atoms)
    phase = np.exp(2j * np.pi * hkl @ shifts.T).sum(axis=1)
    hkl = hkl[np.abs(phase) > 0.5]
    g = np.linalg.norm(hkl @ atoms.cell.reciprocal().array, axis=1)
    return float(1.0 / g.min())


def _frame(cell: np.ndarray, z_dir, candidates) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Rows x, y, z (unit, cartesian) with z along z_dir and y along a low-index direction."""
    z = np.dot(z_dir, cell)
    z = z / np.linalg.norm(z)
    for uvw in candidates:
        v = np.dot(uvw, cell)
        v = v / np.linalg.norm(v)
        if abs(float(v @ z)) < math.cos(math.radians(30)):
            y = v - (v @ z) * z
            y = y / np.linalg.norm(y)
            return np.array([np.cross(y, z), y, z]), uvw
    raise AssertionError("no direction at more than 30 degrees from the zone axis")


def zone_axes(atoms, n: int = AXES_PER_MATERIAL) -> list[ZoneAxis]:
    """The `n` shortest directions of the crystal's lattice, pairwise inequivalent."""
    cell = atoms.cell.array
    rotations = symmetry_rotations(atoms)
    candidates = _candidates(cell)
    chosen: list[tuple[int, int, int]] = []
    for uvw in candidates:
        if not any(_equivalent(uvw, c, rotations) for c in chosen):
            chosen.append(uvw)
        if len(chosen) == n:
            break
    axes = []
    for z_dir in chosen:
        rotation, y_dir = _frame(cell, z_dir, candidates)
        axes.append(ZoneAxis(z_dir, y_dir, rotation, largest_zolz_spacing(atoms, z_dir)))
    return axes
