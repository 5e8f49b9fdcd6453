"""The tiny preset writes the raw ORNL layout exactly, with physically sane patterns."""

from __future__ import annotations

import re

import h5py
import numpy as np

from stemdl.common.simulation.plan import make_plan

ATTRS = {
    "space_group", "material", "formula", "energy_keV", "z_dirs", "y_dirs",
    "semi_angles_rad", "d_hkls_angstrom", "abc_angstrom", "angles_degree",
}  # fmt: skip


def test_files_and_groups(tiny_run, tiny_samples):
    names = sorted(p.name for p in tiny_run.glob("*.h5"))
    assert names == ["batch_dev_0.h5", "batch_test_0.h5", "batch_train_0.h5"]
    plan = make_plan("tiny")
    assert len(tiny_samples) == len(plan.materials) * len(plan.energies_kev) == 12
    for key, (_split, stack, attrs) in tiny_samples.items():
        assert re.fullmatch(r"sample_\d+_\d+", key)
        assert stack.dtype == np.float32 and stack.shape == (3, 128, 128)
        assert set(attrs) == ATTRS
        assert isinstance(attrs["space_group"], bytes)  # as the original: b'225'
        assert attrs["z_dirs"].shape == attrs["y_dirs"].shape == (3, 3)
        for name in ("semi_angles_rad", "d_hkls_angstrom", "abc_angstrom", "angles_degree"):
            assert attrs[name].shape == (3,)
        assert np.all(attrs["abc_angstrom"] < 10)
        # abTEM normalises the probe to 1; |k| < K_MAX keeps most of it (heavy atoms scatter
        # more beyond: 0.8 is seen for Sr/Ga).
        assert np.all(np.isfinite(stack)) and stack.min() >= 0
        assert np.all((stack.sum(axis=(1, 2)) > 0.5) & (stack.sum(axis=(1, 2)) <= 1.0))


def test_energies_and_material_keys(tiny_samples):
    for key, (_split, _stack, attrs) in tiny_samples.items():
        _, material, energy = key.split("_")
        assert attrs["energy_keV"] == 100 + 10 * int(energy)
        assert attrs["material"] == f"sim-{int(material):06d}"


def test_discs_do_not_overlap(tiny_samples):
    """Disc radius alpha/lambda is below half the nearest disc spacing 1/d."""
    from stemdl.common.simulation.cbed import wavelength

    for _split, _stack, attrs in tiny_samples.values():
        lam = wavelength(attrs["energy_keV"] * 1e3)
        radius = attrs["semi_angles_rad"] / lam
        assert np.all(2 * radius < 1 / attrs["d_hkls_angstrom"])


def test_file_root_has_no_extra_groups(tiny_run):
    with h5py.File(tiny_run / "batch_train_0.h5", "r") as f:
        assert all(isinstance(f[k], h5py.Group) for k in f)
