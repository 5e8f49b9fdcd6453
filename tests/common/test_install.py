"""The Makefile's install step (issue 13 item 8): CPU torch index from a variable, progress."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None,
                                reason="needs GNU make (Debian package 'make')")


def _plan(tmp_path, *variables: str) -> list[str]:
    """The commands `make install` would run for a fresh venv (make -n: nothing runs)."""
    proc = subprocess.run(["make", "-n", "install", f"VENV={tmp_path / 'venv'}", *variables],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in proc.stdout.splitlines() if "pip install" in line]


def test_default_install_uses_the_configured_indexes(tmp_path):
    lines = _plan(tmp_path)
    assert lines and not any("--index-url" in line for line in lines)


def test_torch_index_variable_applies_to_torch_only(tmp_path):
    lines = _plan(tmp_path, "TORCH_INDEX=https://wheels.example/cpu", "HAS_GPU=")
    torch_lines = [line for line in lines if "torch==" in line]
    assert torch_lines and "--index-url https://wheels.example/cpu" in torch_lines[0]
    assert all("--index-url" not in line for line in lines if "torch==" not in line)


def test_install_shows_progress_and_still_fails_on_pip_errors(tmp_path):
    lines = _plan(tmp_path)
    assert all("-q" not in line.split() and "Collecting" in line for line in lines)
    # the progress filter must not hide a failing pip: pipefail is on for recipes
    makefile = (ROOT / "Makefile").read_text()
    assert ".SHELLFLAGS := -o pipefail -c" in makefile
    assert subprocess.run(["bash", "-o", "pipefail", "-c", "false | { grep x || true; }"]).returncode
