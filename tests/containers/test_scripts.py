"""The shell scripts: syntax, argument errors, and the smoke test's clear skip without root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPTS = ("build.sh", "smoke.sh", "install.sh", "slurm-smoke.sh")


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


@pytest.mark.parametrize("name, target, env_dir", [
    ("smoke.sh", "containers-smoke", "STEMDL_SMOKE_DIR"),
    ("slurm-smoke.sh", "slurm-smoke", "STEMDL_SLURM_DIR"),
])
def test_smoke_skips_with_a_reason_without_root(containers_dir, tmp_path, name, target, env_dir):
    """Without root a smoke test changes nothing, says why, and exits 77 (skipped)."""
    script = containers_dir / name
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("setpriv not found (util-linux): cannot drop root to test the skip")
        # the unprivileged user may not be able to read the checkout (e.g. a 0700 clone
        # folder): run a copy from a folder everyone can read; before its root check the
        # script needs nothing but itself
        public = Path(tempfile.mkdtemp(prefix="stemdl-smoke-test-"))
        public.chmod(0o755)
        (public / "containers").mkdir(mode=0o755)
        for helper in {"smoke.sh", name}:  # slurm-smoke.sh sources smoke.sh
            shutil.copy2(containers_dir / helper, public / "containers" / helper)
        script = public / "containers" / name
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(script)]
    else:
        public, cmd = None, ["bash", str(script)]
    env = {**os.environ, env_dir: str(tmp_path / "smoke")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, cwd="/")
    finally:
        if public is not None:
            shutil.rmtree(public, ignore_errors=True)
    assert proc.returncode == 77, proc.stderr
    assert f"{target}: SKIPPED: needs root" in proc.stderr
    assert not (tmp_path / "smoke").exists()
