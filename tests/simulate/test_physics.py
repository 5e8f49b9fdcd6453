"""Labels are spglib's answer, zone axes are inequivalent, CBED symmetry is physical."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.simulation import crystals, zone_axes
from stemdl.common.simulation.plan import make_plan


def _crystal_of(spec):
    if spec.fixed_name is not None:
        return crystals.fixed_crystal(spec.fixed_name)
    return crystals.random_crystal(spec.space_group, spec.seed_sequence())


def test_written_label_is_spglibs_answer(tiny_samples):
    plan = make_plan("tiny")
    for key, (_split, _stack, attrs) in tiny_samples.items():
        spec = plan.materials[int(key.split("_")[1])]
        atoms = _crystal_of(spec).atoms
        assert int(attrs["space_group"]) == crystals.spglib_space_group(atoms)
        np.testing.assert_allclose(attrs["abc_angstrom"], atoms.cell.cellpar()[:3])


@pytest.mark.parametrize("group", [2, 14, 62, 139, 166, 194, 225])
def test_random_crystal_is_checked_and_deterministic(group):
    seed = np.random.SeedSequence(7, spawn_key=(group, 0))
    a = crystals.random_crystal(group, seed)
    b = crystals.random_crystal(group, np.random.SeedSequence(7, spawn_key=(group, 0)))
    assert crystals.spglib_space_group(a.atoms) == group == a.space_group
    assert np.all(a.atoms.cell.cellpar()[:3] < crystals.MAX_LATTICE_A)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)


def test_pseudo_symmetric_crystal_is_rejected():
    """NaCl is Fm-3m (225): asking for a subgroup (e.g. Pm-3m, 221) must be refused."""
    atoms = crystals.fixed_crystal("NaCl").atoms
    assert crystals.check(atoms, 225) is None
    assert "spglib finds space group 225" in crystals.check(atoms, 221)


def test_unreachable_group_fails_quickly_with_a_reason():
    with pytest.raises(crystals.CrystalFailure, match="attempts"):
        crystals.random_crystal(228, np.random.SeedSequence(0), attempts=3)


def test_cubic_zone_axes_are_the_classic_three():
    axes = zone_axes.zone_axes(crystals.fixed_crystal("NaCl").atoms)
    assert [a.z_dir for a in axes] == [(0, 0, 1), (0, 1, 1), (1, 1, 1)]
    # fcc: the largest ZOLZ spacing along [001] is d200 = a/2 (d100 is centring-forbidden)
    assert axes[0].d_hkl == pytest.approx(5.64 / 2)


@pytest.mark.parametrize("name", crystals.FIXED_NAMES)
def test_zone_axes_are_pairwise_inequivalent(name):
    atoms = crystals.fixed_crystal(name).atoms
    rotations = crystals.symmetry_rotations(atoms)
    axes = zone_axes.zone_axes(atoms)
    assert len(axes) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert not zone_axes._equivalent(axes[i].z_dir, axes[j].z_dir, rotations)
        frame = axes[i].rotation
        np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
        z = np.dot(axes[i].z_dir, atoms.cell.array)
        np.testing.assert_allclose(frame[2], z / np.linalg.norm(z), atol=1e-12)


def _rot90_difference(pattern: np.ndarray) -> float:
    """Relative L1 change under a 90 degree rotation about k = 0 (pixel (PX/2, PX/2)).

    Dropping the first row and column leaves an odd-sized image centred on k = 0.
    """
    centred = pattern[1:, 1:].astype(np.float64)
    return float(np.abs(centred - np.rot90(centred)).sum() / centred.sum())


def test_cbed_along_cubic_fourfold_axis_is_fourfold(tiny_samples):
    """NaCl [001] has a 4-fold axis through the probe: the pattern must repeat under 90 deg.

    Probe, box and grid are all symmetric about the axis, so only float32 rounding breaks
    the symmetry (about 1e-5 measured). An off-axis probe gives about 2e-2, which is why the
    tolerance is 1e-3. The [011] axis (2-fold only) must fail the same check.
    """
    _split, stack, attrs = tiny_samples["sample_0_0"]
    assert attrs["formula"] == "Cl4Na4" and list(attrs["z_dirs"][0]) == [0, 0, 1]
    assert _rot90_difference(stack[0]) < 1e-3
    assert list(attrs["z_dirs"][1]) == [0, 1, 1]
    assert _rot90_difference(stack[1]) > 1e-2


def test_fft_plans_do_not_depend_on_timing():
    """abTEM's FFTW_MEASURE times FFT algorithms: ranks in different processes then round
    differently. Every simulation entry point sets FFTW_ESTIMATE (sizes only) first."""
    abtem = pytest.importorskip("abtem")
    from stemdl.common.simulation import cbed

    abtem.config.set({"fftw.planning_effort": "FFTW_MEASURE"})
    assert cbed._abtem() is abtem
    assert abtem.config.get("fftw.planning_effort") == "FFTW_ESTIMATE" == cbed.FFTW_PLANNING
