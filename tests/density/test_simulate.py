"""`stemdl simulate` writes each sample's potential maps beside its patterns, and
`stemdl show` draws them."""

from __future__ import annotations

import h5py
import numpy as np

from stemdl.cli import main


def test_simulated_samples_carry_their_potential(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", str(out), "--preset", "tiny", "--space-groups", "225,194",
                 "--energies", "2", "--size", "32"]) == 0
    files = sorted(out.glob("batch_*.h5"))
    with h5py.File(files[0], "r") as f:
        keys = sorted(f)
        group = f[keys[0]]
        maps = group["potential"]
        assert maps.dtype == np.float32 and maps.shape[0] == 3 and maps.shape[1] == maps.shape[2]
        attrs = dict(maps.attrs)
        assert attrs["units"] == "eV*Angstrom" and attrs["blur_sigma_px"] == 0.0
        # the central half of the box: window = half the extent, pixel = extent / gpts
        assert np.isclose(attrs["window_angstrom"], maps.shape[1] * attrs["pixel_size_angstrom"])
        values = maps[()]
        assert np.isfinite(values).all() and values.min() > 0 and values.max() > 10 * values.min()  # atoms stand out
        # one potential per zone axis, the same for every energy of a material
        same = [k for k in keys if k.rsplit("_", 1)[0] == keys[0].rsplit("_", 1)[0]]
        assert len(same) == 2
        np.testing.assert_array_equal(f[same[0]]["potential"][()], f[same[1]]["potential"][()])
    png = tmp_path / "show.png"
    assert main(["show", str(out), "--out", str(png)]) == 0
    assert png.stat().st_size > 0
