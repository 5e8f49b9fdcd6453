"""Tiny separable NPZ folders (MLCommons layout) for the ORNL tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.ornl.memreader import MemoryReader

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = ["resnet=18", "batch_size=8", "warmup_epochs=1", "deterministic=true",
        "random_erasing_p=0.5", "num_workers=1", "input_norm=standardize"]


def write_npz_split(folder: Path, reader: MemoryReader) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(reader)):
        s = reader[i]
        np.savez(folder / f"sample-{i}.npz", data=s.stack, label=np.array([s.label]),
                 material=np.array([s.material]), target=s.target,
                 target_kind=np.array(["potential"]))
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """training/ (48), validation/ (24) and testing/ (12 samples), 3 separable classes, 32 px."""
    root = tmp_path_factory.mktemp("ornl-data")
    write_npz_split(root / "training", MemoryReader(48, seed=0))
    write_npz_split(root / "validation", MemoryReader(24, seed=1, split="val"))
    write_npz_split(root / "testing", MemoryReader(12, seed=2, split="test"))
    return root
