"""`stemdl simulate --scan N`: an N x N probe scan per zone axis (discs overlapping) as the
density task's input, through preprocessing into both implementations' training."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from stemdl.cli import main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.simulation import cbed, crystals, zone_axes
from stemdl.common.simulation.plan import make_plan
from stemdl.common.simulation.writer import MANIFEST
from stemdl.common.tasks.density.model import trainable_parameter_count, unet_spec
from tests.density.conftest import SCAN, SIZE


def test_probe_positions_cover_the_central_window():
    physics = cbed.Physics(size=64, scan=4)
    pos = physics.probe_positions()
    quarter = physics.extent / 4
    assert pos.shape == (16, 2)
    assert pos.min() > quarter and pos.max() < 3 * quarter
    # row-major: x varies fastest, then y
    assert np.allclose(np.diff(pos[:4, 0]), physics.extent / 8) and np.all(pos[:4, 1] == pos[0, 1])
    assert np.allclose(cbed.Physics(size=64).probe_positions(), [[physics.extent / 2] * 2])


def test_scan_patterns_are_the_single_patterns_at_each_position():
    crystal = crystals.fixed_crystal(crystals.FIXED_NAMES[0])
    axis = zone_axes.zone_axes(crystal.atoms)[0]
    physics = cbed.Physics(size=SIZE, scan=SCAN)
    potential = cbed.build_potential(crystal.atoms, axis, physics)
    semi = axis.semi_angle(cbed.wavelength(1e5), physics.disc_fill)
    scan = cbed.scan_patterns(potential, 1e5, semi, physics)
    assert scan.shape == (SCAN**2, SIZE, SIZE) and scan.dtype == np.float32
    for p, xy in enumerate(physics.probe_positions()):
        single = cbed._diffraction(potential, 1e5, semi, physics, tuple(xy))
        np.testing.assert_allclose(scan[p], single, rtol=1e-5, atol=1e-9)
    # the probe's position changes the pattern once discs overlap
    assert np.abs(scan[0] - scan[-1]).max() > 0.01 * scan.max()


@pytest.mark.parametrize("scan", [0, -1, 33])
def test_scan_out_of_range_is_one_line(scan):
    with pytest.raises(StemdlError, match="--scan must be in 1..32"):
        make_plan("tiny", scan=scan)


def test_scan_too_large_for_memory_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "big"
    assert main(["simulate", str(out), "--preset", "full", "--scan", "16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB per material" in err[0]
    assert not out.exists()


def test_scan_samples_hold_every_position_of_every_axis(scan_raw):
    manifest = json.loads((scan_raw / MANIFEST).read_text())
    assert manifest["physics"]["scan"] == SCAN and manifest["physics"]["disc_fill"] > 1
    with h5py.File(scan_raw / "batch_train_0.h5", "r") as f:
        group = f[sorted(f)[0]]
        stack, attrs = group["cbed_stack"][()], dict(group.attrs)
        assert stack.shape == (3 * SCAN**2, SIZE, SIZE)
        assert group["potential"].shape[0] == 3  # one map per zone axis
    assert attrs["scan"] == SCAN and attrs["probe_positions_angstrom"].shape == (SCAN**2, 2)
    # the discs overlap: diameter 2 alpha / lambda above the disc spacing 1 / d
    radius = attrs["semi_angles_rad"] / cbed.wavelength(attrs["energy_keV"] * 1e3)
    assert np.all(2 * radius > 1 / attrs["d_hkls_angstrom"])
    # the same probe through the same crystal: every pattern carries the probe's intensity
    totals = stack.sum(axis=(1, 2))
    assert np.all((totals > 0.3) & (totals <= 1.0))


@pytest.mark.parametrize("fmt", ["npz", "packed"])
def test_scans_train_the_density_task_not_classification(scan_raw, tmp_path, capsys, fmt):
    data = tmp_path / fmt
    assert main(["preprocess", str(scan_raw), str(data), "--format", fmt, "--size", "16",
                 "--target", "potential"]) == 0
    capsys.readouterr()
    common = ["epochs=1", "batch_size=2", "unet_depth=2", "unet_width=4", "num_workers=0"]
    assert main(["train", "stfc", f"data_dir={data}", f"run_dir={tmp_path / 's'}",
                 "task=density", "progress=false", "tensorboard=false", *common]) == 0
    assert main(["train", "ornl", f"data_dir={data}", f"run_dir={tmp_path / 'o'}",
                 "task=density", *common]) == 0
    for run in ("s", "o"):
        result = json.loads((tmp_path / run / "results.json").read_text())
        assert 0 < result["best_val"]["nmse"] < 10
        # the U-Net's first conv takes the 12 patterns
        assert result["parameters"] == trainable_parameter_count(unet_spec(2, 4, 16, 3 * SCAN**2))
    capsys.readouterr()
    assert main(["train", "stfc", f"data_dir={data}", f"run_dir={tmp_path / 'c'}",
                 "resnet=18", "batch_size=2", "epochs=1", "num_workers=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "holds probe scans (12 patterns per sample)" in err[-1]
