"""tools/gpu_check.sh (issue 24): its CPU dry run goes through every step of the GPU check
(data it writes, staged and synthetic runs, results, compliance, the table), and without a
GPU the check says so in one line and exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, **env})


def test_without_a_gpu_the_check_says_so_and_exits_2():
    proc = _run(NVIDIA_SMI="false")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "gpu_check: no NVIDIA GPU here (nvidia-smi -L lists none); run it on a GPU node, "
        "or with --dry-run on this one"]


def test_the_cpu_dry_run_goes_through_every_step(tmp_path):
    proc = _run("--dry-run", "--out", str(tmp_path), NVIDIA_SMI="false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "gpu-check.json").read_text())
    assert [r["case"] for r in rows] == ["synthetic memory b8", "packed memory b4",
                                        "packed in place b8 1 worker"]
    assert all(r["exit"] == 0 and r["steady"] > 0 and r["first_step_s"] > 0 for r in rows)
    assert rows[0]["compliance"] == "refused (synthetic), as it must be"
    assert [r["compliance"] for r in rows[1:]] == ["PASS", "PASS"]
    assert rows[1]["staging_s"] is not None and rows[2]["staging_s"] is None
    assert "| packed memory b4 |" in proc.stdout and "packed memory b4 / synthetic memory b8:" in proc.stdout


def test_bad_arguments_are_one_line_errors():
    proc = _run("--dry-run", "--steps", "0")
    assert proc.returncode == 2 and "--steps must be 1..10000" in proc.stderr
    assert "Traceback" not in proc.stderr
