"""The shell scripts: syntax, argument errors, and the smoke test's clear skip without root."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

SCRIPTS = ("build.sh", "smoke.sh", "install.sh")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_syntax(containers_dir, name):
    proc = subprocess.run(["bash", "-n", str(containers_dir / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_build_rejects_unknown_implementation(containers_dir):
    proc = subprocess.run([str(containers_dir / "build.sh"), "image", "pytorch"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "must be stfc, ornl or all, not 'pytorch'" in proc.stderr


def test_install_rejects_unknown_variant(containers_dir):
    proc = subprocess.run(["bash", str(containers_dir / "install.sh"), "stfc", "rocm"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "variant must be gpu or cpu" in proc.stderr


def test_smoke_skips_with_a_reason_without_root(containers_dir, tmp_path):
    """Without root the smoke test changes nothing, says why, and exits 77 (skipped)."""
    cmd = ["bash", str(containers_dir / "smoke.sh")]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("setpriv not found (util-linux): cannot drop root to test the skip")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "STEMDL_SMOKE_DIR": str(tmp_path / "smoke")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, cwd="/")
    assert proc.returncode == 77, proc.stderr
    assert "containers-smoke: SKIPPED: needs root" in proc.stderr
    assert not (tmp_path / "smoke").exists()
