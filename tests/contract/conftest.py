"""One tiny run per task x implementation, shared by the contract tests that only read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stemdl import cli
from stemdl.common.task import task_names
from tests.ornl.conftest import write_npz_split as write_split
from tests.ornl.memreader import MemoryReader

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMPLEMENTATIONS = ("stfc", "ornl")
FRAMEWORK = {"stfc": "pytorch_lightning", "ornl": "tensorflow"}
EXTRA = {"stfc": "stfc", "ornl": "ornl-cpu"}
CASES = [pytest.param(task, impl, id=f"{task}-{impl}") for task in task_names()
         for impl in IMPLEMENTATIONS]


@pytest.fixture(scope="session")
def contract_data(tmp_path_factory) -> Path:
    """training (32), validation (12, uneven batches) and testing (8): 3 separable classes."""
    root = tmp_path_factory.mktemp("contract-data")
    write_split(root / "training", MemoryReader(32, seed=0))
    write_split(root / "validation", MemoryReader(12, seed=1, split="val"))
    write_split(root / "testing", MemoryReader(8, seed=2, split="test"))
    return root


def train_args(task: str, impl: str, data: Path, run_dir: Path, *extra: str) -> list[str]:
    """A one-epoch ResNet-18 run of `task` with `impl`, through the `stemdl` command."""
    model = ["resnet=18"] if task == "classify" else ["unet_width=8"]
    common = [f"task={task}", *model, "batch_size=8", "epochs=1", "seed=5",
              "save_predictions=true", "deterministic=true"]
    if impl == "stfc":
        return ["train", "stfc", f"data_dir={data}", f"run_dir={run_dir}", *common,
                "division=open", "num_workers=0", "progress=false", "tensorboard=false", *extra]
    return ["train", "ornl", "--data-dir", str(data), "--run-dir", str(run_dir), *common,
            "warmup_epochs=1", "num_workers=1", *extra]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


_RUNS: dict[tuple[str, str], tuple[Path, str]] = {}


@pytest.fixture()
def tiny_run(task, impl, contract_data, tmp_path_factory, capsys):
    """(run folder, stdout) of the shared run of (task, impl); trained on first use."""
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra: pip install "
                        f"'stemdl-bench[{EXTRA[impl]}]' (make test installs it)")
    key = (task, impl)
    if key not in _RUNS:
        run_dir = tmp_path_factory.mktemp(f"contract-{task}-{impl}") / "run"
        code, out, err = run_cli(train_args(task, impl, contract_data, run_dir), capsys)
        assert code == 0, err[-3000:]
        _RUNS[key] = (run_dir, out)
    return _RUNS[key]
