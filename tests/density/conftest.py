"""Shared scan data for the density tests: the tiny preset as a 2 x 2 probe scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemdl.cli import main

SCAN = 2
SIZE = 32


@pytest.fixture(scope="session")
def scan_raw(tmp_path_factory) -> Path:
    """`stemdl simulate --preset tiny --scan 2 --size 32 --energies 1`: 6 samples of 12
    patterns, once per session."""
    out = tmp_path_factory.mktemp("scan") / "raw"
    assert main(["simulate", str(out), "--preset", "tiny", "--scan", str(SCAN), "--size",
                 str(SIZE), "--energies", "1", "--workers", "2"]) == 0
    return out


@pytest.fixture(scope="session")
def scan_packed(scan_raw, tmp_path_factory) -> Path:
    """The scan preprocessed to 16 px packed, potential targets."""
    out = tmp_path_factory.mktemp("scan") / "packed"
    assert main(["preprocess", str(scan_raw), str(out), "--format", "packed", "--size", "16",
                 "--target", "potential"]) == 0
    return out
