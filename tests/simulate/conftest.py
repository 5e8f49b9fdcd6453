"""Shared simulated data: the tiny preset once per session, small runs for rank tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from stemdl.cli import main


def read_samples(root: Path) -> dict[str, tuple[str, np.ndarray, dict]]:
    """Every sample of every batch file: key -> (split, stack, attrs)."""
    samples = {}
    for path in sorted(Path(root).glob("batch_*_*.h5")):
        split = path.name.split("_")[1]
        with h5py.File(path, "r") as f:
            for key in f:
                assert key not in samples, f"{key} in two files"
                group = f[key]
                samples[key] = (split, group["cbed_stack"][()], dict(group.attrs))
    return samples


def assert_same_samples(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        split_a, stack_a, attrs_a = a[key]
        split_b, stack_b, attrs_b = b[key]
        assert split_a == split_b, key
        np.testing.assert_array_equal(stack_a, stack_b, err_msg=key)
        assert sorted(attrs_a) == sorted(attrs_b), key
        for name in attrs_a:
            np.testing.assert_array_equal(attrs_a[name], attrs_b[name], err_msg=f"{key} {name}")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """`stemdl simulate OUT --preset tiny`, through the command line, once per session."""
    out = tmp_path_factory.mktemp("sim") / "tiny"
    assert main(["simulate", str(out), "--preset", "tiny"]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_samples(tiny_run) -> dict:
    return read_samples(tiny_run)


# Small settings for the rank and resume tests: 3 fixed crystals, 1 energy, 32 px.
SMALL = dict(preset="tiny", space_groups="225,227,194,221", energies=1, size=32)
