"""CBED patterns by abTEM multislice: one potential per zone axis, one probe per energy.

Geometry (see docs/SIMULATION.md): the pattern spans |kx|, |ky| < K_MAX (1/Angstrom) on
PX x PX pixels, whatever the energy, so pixel = 1/L with L = PX / (2 K_MAX) the lateral
size of the simulated box. The crystal, rotated so the zone axis is the beam (z), is cut
into an L x L x THICKNESS box with the cell origin at its centre; a converged probe focused
on the entrance surface there is propagated through it and |psi(k)|^2 is cropped to the central PX x PX.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stemdl.common.simulation.zone_axes import ZoneAxis

K_MAX = 1.0  # 1/Angstrom: half-width of the pattern (37 mrad at 100 keV)
THICKNESS = 100.0  # Angstrom along the beam
SLICE_THICKNESS = 2.0  # Angstrom per multislice slice
PARAMETRIZATION = "lobato"  # abTEM's default atomic potential parametrization
# abTEM zeroes |k| > 2/3 of the Nyquist frequency (anti-aliasing). The pattern's corners
# lie at sqrt(2) K_MAX, so the grid must reach 1.5 * sqrt(2) * K_MAX: gpts >= 2.12 PX.
OVERSAMPLE = 1.5 * math.sqrt(2.0)
# abTEM's default FFTW_MEASURE picks FFT algorithms by timing them, so two processes may
# round differently (about 1e-7): a 2-rank run's samples then differ from a 1-rank run's
# (seen under SLURM, `make slurm-smoke`). FFTW_ESTIMATE plans from the sizes alone.
FFTW_PLANNING = "FFTW_ESTIMATE"


@dataclass(frozen=True)
class Physics:
    """The settings that decide the pattern; stored in the run manifest."""

    size: int  # PX
    scan: int = 1  # N: an N x N grid of probe positions over the central window (1: centre)
    k_max: float = K_MAX
    thickness: float = THICKNESS
    slice_thickness: float = SLICE_THICKNESS
    parametrization: str = PARAMETRIZATION

    @property
    def extent(self) -> float:
        """Lateral box size L (Angstrom); reciprocal pixel size is 1/L."""
        return self.size / (2.0 * self.k_max)

    @property
    def gpts(self) -> int:
        """Real-space grid points per side: even, 2-3-5-smooth (fast FFT), >= OVERSAMPLE*PX."""
        n = math.ceil(OVERSAMPLE * self.size)
        while True:
            m = n
            for p in (2, 3, 5):
                while m % p == 0:
                    m //= p
            if m == 1 and n % 2 == 0:
                return n
            n += 1

    @property
    def disc_fill(self) -> float:
        """Disc diameter / spacing: discs overlap in a scan, never at a single position."""
        from stemdl.common.simulation.zone_axes import DISC_FILL, SCAN_DISC_FILL

        return SCAN_DISC_FILL if self.scan > 1 else DISC_FILL

    def probe_positions(self) -> np.ndarray:
        """(N*N, 2) probe positions (x, y) in Angstrom, row-major (y, then x): the centres
        of an N x N grid of cells over the central half of the box (N = 1: its centre)."""
        step = self.extent / 2 / self.scan
        axis = self.extent / 4 + step * (np.arange(self.scan) + 0.5)
        y, x = np.meshgrid(axis, axis, indexing="ij")
        return np.stack([x.ravel(), y.ravel()], axis=1)

    def as_dict(self) -> dict:
        out = {**asdict(self), "extent_angstrom": self.extent, "gpts": self.gpts}
        if self.scan == 1:  # manifests of single-position runs stay as they were
            del out["scan"]
        else:
            out["disc_fill"] = self.disc_fill
        return out


def wavelength(energy_ev: float) -> float:
    """Relativistic electron wavelength (Angstrom), from abTEM."""
    from abtem.core.energy import energy2wavelength

    return float(energy2wavelength(energy_ev))


def oriented_box(atoms, axis: ZoneAxis, physics: Physics):
    """The crystal rotated so the zone axis is +z, cut to an L x L x thickness box.

    Rotation is done here because abTEM 1.0's `rotate_atoms_to_plane` only accepts
    named planes ('xy', ...); the cut itself is abTEM's `cut_cell`.
    """
    from abtem.atoms import cut_cell

    rotated = atoms.copy()
    rotated.positions = atoms.positions @ axis.rotation.T
    rotated.set_cell(atoms.cell.array @ axis.rotation.T, scale_atoms=False)
    # Put the cell's origin (a lattice point, on the highest-symmetry axis for symmorphic
    # groups) under the probe at the box centre.
    rotated.positions += (physics.extent / 2, physics.extent / 2, 0.0)
    box = (physics.extent, physics.extent, physics.thickness)
    return cut_cell(rotated, cell=box)


def _abtem():
    """abTEM, with FFT plans that do not depend on timing (same bytes in every process)."""
    import abtem

    abtem.config.set({"fftw.planning_effort": FFTW_PLANNING})
    return abtem


def build_potential(atoms, axis: ZoneAxis, physics: Physics, device: str = "cpu"):
    """The projected potential slices of one zone axis, built once for every energy."""
    abtem = _abtem()

    potential = abtem.Potential(
        oriented_box(atoms, axis, physics),
        gpts=physics.gpts,
        slice_thickness=physics.slice_thickness,
        parametrization=physics.parametrization,
        projection="infinite",
        device=device,
    )
    return potential.build(lazy=False)


def projected_window(potential, physics: Physics) -> np.ndarray:
    """The projected potential (eV*Angstrom) of the central half of the box, float32
    (gpts/2, gpts/2), rows y, columns x as the patterns: the density task's raw target
    (abTEM's projection of the same slices the multislice used; under a millisecond)."""
    full = potential.project().array
    if not isinstance(full, np.ndarray):  # CuPy on GPU
        full = full.get()
    n = full.shape[-1]
    return np.ascontiguousarray(full[n // 4 : 3 * n // 4, n // 4 : 3 * n // 4].T, dtype=np.float32)


def pattern(potential, energy_ev: float, semi_angle: float, physics: Physics) -> np.ndarray:
    """One CBED pattern, float32 (PX, PX): rows ky, columns kx, k = 0 at (PX/2, PX/2).

    Intensities are abTEM's: the incident probe carries total intensity 1.
    """
    extent = physics.extent
    return _diffraction(potential, energy_ev, semi_angle, physics, (extent / 2, extent / 2))


def scan_patterns(potential, energy_ev: float, semi_angle: float, physics: Physics
                  ) -> np.ndarray:
    """The N x N scan of `physics`: float32 (N*N, PX, PX), positions as
    `Physics.probe_positions`, each pattern as `pattern` gives it (one abTEM multislice
    of all positions at once)."""
    from abtem.scan import CustomScan

    positions = CustomScan(physics.probe_positions())
    return _diffraction(potential, energy_ev, semi_angle, physics, positions)


def _diffraction(potential, energy_ev: float, semi_angle: float, physics: Physics, scan
                 ) -> np.ndarray:
    """|psi(k)|^2 of the probe at `scan` (one position or a CustomScan), cropped to PX."""
    abtem = _abtem()

    probe = abtem.Probe(
        semiangle_cutoff=semi_angle * 1e3, energy=energy_ev, device=potential.device
    )
    exit_wave = probe.multislice(potential, scan=scan, lazy=False)
    patterns = exit_wave.diffraction_patterns(max_angle=None, block_direct=False, fftshift=True)
    full = patterns.array
    if not isinstance(full, np.ndarray):  # CuPy on GPU
        full = full.get()
    n, half = full.shape[-1], physics.size // 2
    centre = n // 2  # fftshift puts k = 0 at index n // 2
    crop = full[..., centre - half : centre + half, centre - half : centre + half]
    return np.ascontiguousarray(np.swapaxes(crop, -1, -2), dtype=np.float32)
