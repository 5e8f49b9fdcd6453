"""Tiny data for the STFC tests: a separable npz data set and a run helper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLASSES = (12, 63, 141, 225)  # four space groups, one blob position each
SIZE = 32


def separable_stack(label_index: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Noise plus a bright square whose quadrant encodes the class (learnable in 1-2 epochs)."""
    stack = rng.random((3, size, size), dtype=np.float32) * 20.0
    h = size // 2
    r, c = divmod(label_index, 2)
    stack[:, r * h + 2:(r + 1) * h - 2, c * h + 2:(c + 1) * h - 2] += 200.0
    return stack


def write_separable(root: Path, counts: dict[str, int], seed: int = 0, size: int = SIZE) -> Path:
    """npz folders (MLCommons names) with `count` samples per split, classes round-robin;
    two samples per material, materials disjoint between splits."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            k = i % len(CLASSES)
            np.savez(folder / f"sample-{i}.npz", data=separable_stack(k, rng, size),
                     label=np.array([CLASSES[k]], dtype=np.int64),
                     material=np.array([f"{split}-m{i // 2}"]))
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 train / 21 validation / 12 test / 8 inference samples of 3x32x32 (21: uneven shards)."""
    root = tmp_path_factory.mktemp("stfc-data")
    return write_separable(root, {"training": 48, "validation": 21, "testing": 12, "inference": 8})


TINY = ["resnet=18", "division=open", "batch_size=8", "num_workers=0", "progress=false",
        "deterministic=true", "input_norm=standardize"]  # exercises the statistics path


def run_module(args: list[str], env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """`python -m stemdl.stfc.train ARGS` in a fresh process (as a launcher would run it)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("STEMDL_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "stemdl.stfc.train", *args], cwd=REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


TWO_EPOCHS = [*TINY, "epochs=2", "learning_rate=0.001", "save_predictions=true"]


@pytest.fixture(scope="session")
def e2e_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted 2-epoch ResNet-18 run, shared by the end-to-end tests."""
    run_dir = tmp_path_factory.mktemp("stfc-run") / "run"
    proc = run_module([f"data_dir={tiny_data}", f"run_dir={run_dir}", *TWO_EPOCHS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "val macro F1" in proc.stdout
    return run_dir
