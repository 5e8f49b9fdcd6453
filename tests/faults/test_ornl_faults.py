"""`stemdl train ornl` under faults (issue 13 items 1, 3, 5, 8): a NaN loss, and TensorFlow's
start-up banner. A second copy and SIGTERM: tests/contract/test_faults.py, for both."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stemdl.cli import main
from stemdl.common.run.results import RunResult
from tests.faults.procs import env, run_stops
from tests.ornl.conftest import TINY, write_npz_split
from tests.ornl.memreader import MemoryReader


@pytest.fixture(scope="module")
def ornl_data(tmp_path_factory) -> Path:
    """training/ (48) and validation/ (24) only: 3 separable classes, 32 px."""
    root = tmp_path_factory.mktemp("ornl-two-splits")
    write_npz_split(root / "training", MemoryReader(48, seed=0))
    write_npz_split(root / "validation", MemoryReader(24, seed=1, split="val"))
    return root


def test_banner_lines_are_dropped_and_other_lines_kept(tmp_path):
    """A stand-in `tensorflow` whose import writes the banner and a real warning to fd 2."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(textwrap.dedent('''
        import os
        banner = ("WARNING: All log messages before absl::InitializeLog() is called are "
                  "written to STDERR\\nI0000 00:00:1.0 1 port.cc:153] oneDNN custom operations "
                  "are on. You may see slightly different numerical results\\n")
        os.write(2, (banner + "a warning that matters\\n" + banner).encode())
    '''))
    code = "from stemdl.ornl.quiet import import_tensorflow; import_tensorflow(); print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], env=env(PYTHONPATH=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr
    assert proc.stderr == "a warning that matters\n"


needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                              reason="the ornl extra: pip install 'stemdl-bench[ornl-cpu]'")


@needs_tf
@pytest.mark.slow
def test_real_tensorflow_import_prints_no_banner():
    code = "from stemdl.ornl.quiet import import_tensorflow; import_tensorflow(); print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "oneDNN" not in proc.stderr and "absl::InitializeLog" not in proc.stderr, proc.stderr


@needs_tf
@pytest.mark.slow
def test_nan_loss_stops_the_run_as_aborted(ornl_data, tmp_path, capsys, monkeypatch):
    from stemdl.ornl import loop

    monkeypatch.setattr(loop.Trainer, "train_epoch",
                        lambda self, reader, epoch, on_step=None: (float("nan"), 48))
    run_dir = tmp_path / "run"
    code = main(["train", "ornl", "--data-dir", str(ornl_data), "--run-dir", str(run_dir),
                 *TINY, "epochs=2"])
    err = capsys.readouterr().err
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert errors == ["stemdl: error: training loss is nan in epoch 1: the run is stopped as "
                      "aborted (lower learning_rate, or check the data)"], err
    result = RunResult.read(run_dir)
    assert result.status == "aborted" and result.epochs == []
    assert run_stops(run_dir / "mlperf.log") == ["aborted"]
    assert not Path(run_dir / "checkpoints" / "checkpoint").exists()
