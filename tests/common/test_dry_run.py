"""`--dry-run` of `stemdl train stfc|ornl` and `stemdl simulate`: every check a run makes
before it starts, the plan printed, nothing trained or written, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stemdl.cli import main
from tests.stfc.conftest import write_separable


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_separable(tmp_path_factory.mktemp("dry"), {"training": 16, "validation": 8})


ARGS = {
    "stfc": lambda d, r: ["train", "stfc", "--dry-run", f"data_dir={d}", f"run_dir={r}",
                          "resnet=18", "batch_size=4", "division=open", "epochs=3"],
    "ornl": lambda d, r: ["train", "ornl", "--dry-run", "--data-dir", str(d), "--run-dir", str(r),
                          "--resnet", "18", "--batch-size", "4", "--epochs", "3"],
}


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_dry_run_prints_the_plan_and_writes_nothing(impl, data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(ARGS[impl](data, run_dir)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{impl} dry run: config, data and run folder checked")
    assert f"run folder: {run_dir} (new run)" in out
    assert f"train: 16 samples, 4 space groups, 3x32x32, npz ({data / 'training'})" in out
    assert f"val: 8 samples, 4 space groups, 3x32x32, npz ({data / 'validation'})" in out
    assert "skipped phases: test, inference" in out
    assert "model: resnet18; 3 epochs" in out and "division open" in out
    assert not run_dir.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_dry_run_fails_as_the_run_would(impl, data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main([*ARGS[impl](data, run_dir), "--resume"]) == 2  # nothing to resume
    assert "--resume given but there is no checkpoint" in capsys.readouterr().err
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")
    assert main(ARGS[impl](data, run_dir)) == 2  # an earlier run's folder
    assert "holds an earlier run (results.json)" in capsys.readouterr().err
    big = [a.replace("batch_size=4", "batch_size=64") if impl == "stfc" else a
           for a in ARGS[impl](data, tmp_path / "r2")]
    if impl == "ornl":
        big[big.index("--batch-size") + 1] = "64"
    assert main(big) == 2
    assert "config key 'batch_size': global batch 64 is larger than the 16 training samples" in capsys.readouterr().err


def test_ornl_dry_run_does_not_start_tensorflow(data, tmp_path):
    code = ("import sys\nfrom stemdl.cli import main\n"
            f"rc = main({ARGS['ornl'](data, tmp_path / 'run')!r})\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
            "raise SystemExit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_simulate_dry_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "64")
    out = tmp_path / "out"
    assert main(["simulate", str(out), "--preset", "full", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "out: " + str(out) + " (rank 3 of 64, 1 worker(s))" in text
    assert "230 space groups x 100 material(s), 10 energies (100..190 keV), 512 px" in text
    assert "this rank: 360 of 23000 materials" in text
    assert not out.exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert main(["simulate", str(tmp_path / "taken"), "--dry-run"]) == 2
    assert "holds no simulate.json" in capsys.readouterr().err


def test_space_groups_only_in_validation_get_a_note(tmp_path, capsys):
    """A validation space group that training never shows scores F1 0 whatever the
    network does: the run says so (issue 26 item 9)."""
    import numpy as np

    data = tmp_path / "d"
    for split, labels in (("training", [1, 2, 1, 2]), ("validation", [1, 2, 225])):
        (data / split).mkdir(parents=True)
        for i, label in enumerate(labels):
            np.savez(data / split / f"sample-{i}.npz", data=np.ones((3, 16, 16), np.float32),
                     label=np.array([label]), material=np.array([f"{split}-{i}"]))
    assert main(["train", "stfc", f"data_dir={data}", f"run_dir={tmp_path / 'r'}",
                 "batch_size=2", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert ("1 space group(s) of the validation split never appear in training (225)") in err
