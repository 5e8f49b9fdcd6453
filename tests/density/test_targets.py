"""The density task's data: potentials in the raw layout, targets through preprocessing
(npz and packed), what inspect reports, and bad targets refused with one line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from stemdl.cli import main
from stemdl.common.data.splits import open_split
from stemdl.common.data.targets import patterson, target_maps, zscore
from tests.data.fixtures import write_raw_folder


def add_potentials(root: Path, size: int = 40, seed: int = 0) -> None:
    """Give every raw sample potential maps (3, size, size) of a few Gaussian atoms."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    for path in sorted(root.glob("batch_*.h5")):
        with h5py.File(path, "a") as f:
            for key in f:
                maps = np.zeros((3, size, size), np.float32)
                for a in range(3):
                    for cy, cx in rng.uniform(0, size, (4, 2)):
                        maps[a] += 1000 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 4.0)
                f[key].create_dataset("potential", data=maps)


@pytest.fixture
def raw_density(tmp_path) -> Path:
    root = write_raw_folder(tmp_path / "raw", size=32).root
    add_potentials(root)
    return root


def test_target_maps_are_zscored_blurred_and_shift_invariant_for_patterson():
    rng = np.random.default_rng(1)
    pot = rng.uniform(0, 100, (3, 64, 64)).astype(np.float32)
    maps = target_maps(pot, 16, "potential")
    assert maps.shape == (3, 16, 16) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(maps.std(axis=(1, 2)), 1, atol=1e-4)
    shifted = patterson(np.roll(pot, (5, 9), axis=(1, 2)))
    np.testing.assert_allclose(shifted, patterson(pot), rtol=1e-6, atol=1e-6)
    flat = zscore(np.full((1, 4, 4), 3.0))  # a flat map stays finite: std floored
    assert np.isfinite(flat).all() and np.abs(flat).max() == 0


@pytest.mark.parametrize("fmt", ["npz", "packed"])
@pytest.mark.parametrize("kind", ["potential", "patterson"])
def test_preprocess_carries_the_target_into_both_layouts(raw_density, tmp_path, fmt, kind):
    out = tmp_path / f"out-{fmt}"
    assert main(["preprocess", str(raw_density), str(out), "--format", fmt, "--size", "16",
                 "--target", kind, "--no-progress"]) == 0
    reader = open_split(out, "train")
    assert reader.target_kind() == kind
    stacks, labels, targets = reader.read_batch([0, 1], targets=True)
    assert targets.shape == stacks.shape == (2, 3, 16, 16) and targets.dtype == np.float32
    raw = open_split(raw_density, "train")
    got = {(reader.materials()[i], reader.labels()[i], float(reader[i].stack.sum())): reader[i].target
           for i in range(len(reader))}
    assert len(got) == len(raw)
    for index in range(len(raw)):  # every sample's target is made from its own potential
        expect = target_maps(raw.potential(index), 16, kind)
        assert any(np.abs(t - expect).max() < 1e-5 for t in got.values()), index


def test_inspect_reports_targets(raw_density, tmp_path, capsys):
    out = tmp_path / "npz"
    assert main(["preprocess", str(raw_density), str(out), "--size", "16", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "density targets: potential maps" in capsys.readouterr().out
    assert main(["inspect", str(raw_density)]) == 0
    assert "potential maps (preprocess makes density targets" in capsys.readouterr().out


@pytest.mark.parametrize("fault", ["nan", "shape"])
def test_a_bad_raw_potential_is_skipped_and_counted(raw_density, tmp_path, capsys, fault):
    path = raw_density / "batch_train_0.h5"
    with h5py.File(path, "a") as f:
        key = sorted(f)[0]
        maps = f[key]["potential"][()]
        del f[key]["potential"]
        if fault == "nan":
            maps[0, 0, 0] = np.nan
        else:
            maps = maps[:2]
        f[key].create_dataset("potential", data=maps)
    out = tmp_path / "npz"
    assert main(["preprocess", str(raw_density), str(out), "--size", "16", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "bad_target: 1" in text and key in text
    reader = open_split(out, "train")
    assert len(reader) == len(open_split(raw_density, "train")) - 1


@pytest.mark.parametrize("fault", ["nan", "shape"])
def test_a_bad_npz_target_is_one_line(raw_density, tmp_path, fault):
    from stemdl.common.cli.errors import DataError

    out = tmp_path / "npz"
    assert main(["preprocess", str(raw_density), str(out), "--size", "16", "--no-progress"]) == 0
    path = sorted((out / "train").glob("*.npz"))[0]
    with np.load(path) as archive:
        items = dict(archive)
    items["target"] = items["target"][:, :8] if fault == "shape" else items["target"] * np.nan
    np.savez(path, **items)
    reader = open_split(out, "train")
    with pytest.raises(DataError, match=f"{path.name}: target (has shape|holds NaN)"):
        reader.read_batch([0], targets=True)


def test_an_unknown_target_kind_is_one_line(raw_density, tmp_path, capsys):
    assert main(["preprocess", str(raw_density), str(tmp_path / "o"), "--target", "density"]) == 2
    assert "invalid choice: 'density'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
