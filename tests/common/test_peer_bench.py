"""make peer-bench (issue 25, item 1): its settings are checked before anything runs (one
line, exit 2, nothing written), one runs per PEER_DIR, and the ratio tables it prints are
computed from the runs' step times as docs/BENCH.md reads them. The measurement itself
needs upstream's mirror and reference venv (tools/peer/README.md): `make peer-bench`."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "peer" / "peer_bench.sh"
RATIOS = ROOT / "tools" / "peer" / "ratios_train.py"


def _run(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("MIRROR", "PEER_DIR", "REF_VENV", "ROUNDS", "PRE_ROUNDS", "N_RAW", "STEPS")}
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={**base, **env})


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A git repository with benchmarks/stemdl at HEAD, as a mirror of upstream has."""
    repo = tmp_path / "science"
    (repo / "benchmarks" / "stemdl").mkdir(parents=True)
    (repo / "benchmarks" / "stemdl" / "README.md").write_text("stand-in\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    return repo


@pytest.fixture
def ref_venv(tmp_path: Path) -> Path:
    """A reference venv whose python imports what upstream needs (this suite's python)."""
    venv = tmp_path / "ref"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "python").chmod(0o755)
    return venv


def _one_line_refusal(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peer-bench: ") and text in lines[0], lines


def test_settings_are_checked_before_anything_runs(tmp_path, mirror, ref_venv):
    peer = tmp_path / "peer"
    _one_line_refusal(_run(), "set MIRROR to a git mirror of github.com/mlcommons/science")
    not_science = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(not_science)], check=True)
    _one_line_refusal(_run(MIRROR=str(not_science), PEER_DIR=str(peer), REF_VENV=str(ref_venv)),
                      "is not a git mirror of github.com/mlcommons/science")
    _one_line_refusal(_run(MIRROR=str(mirror), PEER_DIR=str(ROOT / "peer-scratch"),
                           REF_VENV=str(ref_venv)), "is inside the project")
    assert not (ROOT / "peer-scratch").exists()
    _one_line_refusal(_run(MIRROR=str(mirror), PEER_DIR=str(peer), REF_VENV=str(tmp_path / "none")),
                      "has no bin/python")
    broken = tmp_path / "broken"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "python").write_text("#!/bin/sh\necho 'No module named torchvision' >&2\nexit 1\n")
    (broken / "bin" / "python").chmod(0o755)
    _one_line_refusal(_run(MIRROR=str(mirror), PEER_DIR=str(peer), REF_VENV=str(broken)),
                      "cannot import what upstream needs (No module named torchvision)")
    good = dict(MIRROR=str(mirror), PEER_DIR=str(peer), REF_VENV=str(ref_venv))
    _one_line_refusal(_run(**good, ROUNDS="5x"), "ROUNDS=5x: a whole number of at least 1")
    _one_line_refusal(_run(**good, ROUNDS="500"), "at most 20")
    _one_line_refusal(_run(**good, N_RAW="10"), "N_RAW=10: between 400")
    _one_line_refusal(_run(**good, STEPS="train bench"), "unknown step 'bench'")
    assert not (peer / "upstream").exists() and not (peer / "results").exists()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "stemdl").exists(),
                    reason="needs the project's .venv (make install makes it)")
def test_a_second_peer_bench_in_the_same_folder_refuses(tmp_path, mirror, ref_venv):
    peer = tmp_path / "peer"
    peer.mkdir()
    with open(peer / ".peer-bench.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _run(MIRROR=str(mirror), PEER_DIR=str(peer), REF_VENV=str(ref_venv))
    _one_line_refusal(proc, "another peer-bench is running in PEER_DIR=")
    assert not (peer / "results").exists()


def _tqdm_run(run: Path, key: str, created_wall: float, first_s: float, step_s: float,
              steps: int = 10) -> None:
    """A tqdm_timing file: the bar made at `created_wall`, a slow first step, then steady."""
    perf0 = 500.0  # the bar's perf_counter times; "_clock" places them on the wall clock
    times = [perf0, perf0 + first_s] + [perf0 + first_s + step_s * i for i in range(1, steps)]
    run.mkdir(parents=True)
    (run / "timing.json").write_text(json.dumps({"_clock": [perf0, created_wall], key: times}))


def test_ratios_are_computed_per_round_from_the_step_times(tmp_path):
    """Ours steps at 1 s, upstream at 2 s: steady 2.00; all 10 steps 320 / 14 s against
    320 / 22 s: 1.57; start-up 10 s against 15 s: 1.50; first step 5 s against 4 s: 0.80;
    whole command 40 s against 60 s: 1.50."""
    t0 = 1000.0
    ours, up = tmp_path / "runs" / "b0101-ours-ornl-1t-r1", tmp_path / "runs" / "b0101-up-ornl-r1"
    _tqdm_run(ours, "train epoch 1#1", t0 + 10.0, 5.0, 1.0)
    _tqdm_run(up, "Train Epoch     #1#0", t0 + 15.0, 4.0, 2.0)
    table = tmp_path / "train.csv"
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tool", "round", "seconds", "load1", "start_time", "run_dir", "t0"])
        w.writerow(["ours-ornl-1t", 1, 40.0, 1.0, "06:00:00", ours, t0])
        w.writerow(["up-ornl", 1, 60.0, 1.0, "06:01:00", up, t0])
    proc = subprocess.run([sys.executable, str(RATIOS), str(table)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ours-ornl-1t / up-ornl | 1 |")]
    assert summary == ["| ours-ornl-1t / up-ornl | 1 | 2.00 | 2.00 | 1.57 | 1.50 | 1.50 | 1.50 | 0.80 |"]
    per_round = [ln for ln in proc.stdout.splitlines() if "| b0101 | 1 |" in ln]
    assert per_round and "| 10.0 / 15.0 | 5.0 / 4.0 |" in per_round[0]


def test_a_run_without_timing_is_named_and_left_out(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("tool,round,seconds,load1,start_time,run_dir,t0\n"
                     f"up-stfc-1t,1,10,1.0,06:00:00,{tmp_path}/runs/b0101-up-stfc-1t-r1,1.0\n")
    proc = subprocess.run([sys.executable, str(RATIOS), str(table)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "skipped up-stfc-1t round 1" in proc.stderr and "no pair of runs to compare" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_step_timers_still_hook_into_the_project(tmp_path, monkeypatch):
    """The harness times ours ORNL through the project's LineProgress: a move of that class
    (as in issue 22) must fail here, not as a run that ends rc=1 inside make peer-bench."""
    monkeypatch.syspath_prepend(str(ROOT / "tools" / "peer"))
    monkeypatch.setenv("PEER_TIMING_JSON", str(tmp_path / "t.json"))
    import tqdm_timing

    from stemdl.common.infra import progress

    monkeypatch.setattr(progress, "LineProgress", progress.LineProgress)  # undone after the test
    timed = tqdm_timing.install_stemdl_lines()
    assert progress.LineProgress is timed
    bar = progress.LineProgress(3, "train epoch 1", "step", interval=3600.0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    times = json.loads((tmp_path / "t.json").read_text())
    assert "_clock" in times
    (key,) = [k for k in times if k.startswith("train epoch 1#")]
    assert len(times[key]) == 4 and times[key] == sorted(times[key])
