"""Preprocess reruns, collisions, locks and signals (issue 13 item 4 and items 1, 3)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import stemdl.common.data.preprocess as pp
from stemdl.cli import main
from stemdl.common.data.splits import open_split
from stemdl.common.infra.lock import locked_folder
from tests.data.fixtures import write_raw_folder
from tests.faults.procs import alive, descendants


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("stemdl: error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


def test_rerun_with_another_size_is_refused_then_overwritten(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["preprocess", str(raw.root), str(out), "--size", "16", "--no-progress"]) == 0
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--no-progress"]) == 2
    line = _error(capsys)
    assert "size 16 (now 8)" in line and "--overwrite" in line
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--overwrite",
                 "--no-progress"]) == 0
    shapes = {open_split(out, split).image_shape() for split in ("train", "dev", "test")}
    assert shapes == {(3, 8, 8)}  # no 16 px sample left behind


def test_rerun_with_another_format_is_refused(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--no-progress"]) == 0
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--format", "packed",
                 "--no-progress"]) == 2
    assert "format 'npz' (now 'packed')" in _error(capsys)


def test_foreign_files_in_out_are_not_mixed_with(raw, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--no-progress"]) == 2
    assert "not made by `stemdl preprocess` (notes.txt)" in _error(capsys)


def test_same_sample_in_two_files_is_a_collision(tmp_path, capsys):
    raw = write_raw_folder(tmp_path / "raw", materials={"train": 2, "dev": 1, "test": 1})
    shutil.copy(raw.root / "batch_train_0.h5", raw.root / "batch_train.h5")
    assert main(["preprocess", str(raw.root), str(tmp_path / "out"), "--no-progress",
                 "--size", "8"]) == 2
    line = _error(capsys)
    assert "batch_train.h5" in line and "batch_train_0.h5" in line and "collide" in line


def test_empty_or_cut_npz_outputs_are_redone(raw, tmp_path):
    out = tmp_path / "out"
    pp.preprocess(raw.root, out, size=8, progress=False)
    files = sorted((out / "train").glob("*.npz"))
    files[0].write_bytes(b"")
    files[1].write_bytes(files[1].read_bytes()[:40])
    summary = pp.preprocess(raw.root, out, size=8, progress=False)
    assert summary.written == 2
    for path in files[:2]:
        assert np.load(path)["data"].shape == (3, 8, 8)


def test_size_larger_than_the_patterns_writes_nothing_and_fails(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["preprocess", str(raw.root), str(out), "--size", "64", "--no-progress"]) == 2
    line = _error(capsys)
    assert "no sample written" in line and "too_small" in line


def test_overwrite_with_several_ranks_is_refused(raw, tmp_path, capsys):
    assert main(["preprocess", str(raw.root), str(tmp_path / "o"), "--overwrite", "--rank", "0",
                 "--world", "2"]) == 2
    assert "--overwrite with several ranks" in _error(capsys)


def test_second_writer_of_one_rank_is_refused(raw, tmp_path, capsys):
    out = tmp_path / "out"
    with locked_folder(out, "stemdl preprocess (first)"):
        assert main(["preprocess", str(raw.root), str(out), "--no-progress"]) == 2
    line = _error(capsys)
    assert "in use by another writer" in line and "(first)" in line
    assert not list(out.glob("*/*.npz"))


SLOW_PREPROCESS = textwrap.dedent("""
    import sys, time
    import stemdl.common.data.preprocess as pp
    from stemdl.cli import main
    real = pp.transform_stack
    def slow(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)
    pp.transform_stack = slow
    sys.exit(main(["preprocess", sys.argv[1], sys.argv[2], "--workers", "2", "--size", "8"]))
""")



@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigterm_stops_preprocess_workers(tmp_path):
    raw = write_raw_folder(tmp_path / "raw", materials={"train": 8, "dev": 2, "test": 2})
    with h5py.File(next(raw.root.glob("batch_train_*.h5")), "r") as f:
        assert len(f) >= 8
    proc = subprocess.Popen([sys.executable, "-c", SLOW_PREPROCESS, str(raw.root),
                             str(tmp_path / "out")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = descendants(proc.pid)
        time.sleep(0.1)
    assert len(workers) >= 2, "the worker pool never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped by SIGTERM" in err and "Traceback" not in err
    time.sleep(0.5)
    assert not [w for w in workers if alive(w)]
    assert not list((tmp_path / "out").glob(".stemdl-lock*"))
