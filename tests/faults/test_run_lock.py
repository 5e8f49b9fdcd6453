"""The run folder's lock (issue 13 item 1): rank 0 holds it for the whole run, the other
ranks of the launch take none, a second rank 0 (a second copy of the run) is refused."""

from __future__ import annotations

import os

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.lock import FolderLocked
from stemdl.common.run.rundir import run_dir_lock


def test_rank_0_holds_other_ranks_share_a_second_copy_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    with run_dir_lock(run_dir, "stemdl train stfc", rank=0) as lock:
        assert lock is not None and (run_dir / ".stemdl-lock").exists()
        with run_dir_lock(run_dir, "stemdl train stfc", rank=1) as other:  # DDP child, srun task
            assert other is None
        with pytest.raises(FolderLocked) as err, run_dir_lock(run_dir, "stemdl train stfc", 0):
            pass
        assert f"pid {os.getpid()}" in str(err.value) and "stemdl train stfc" in str(err.value)
        (run_dir / "results.json").write_text("{}")
    assert not (run_dir / ".stemdl-lock").exists() and (run_dir / "results.json").exists()


def test_a_folder_created_for_a_refused_run_is_removed(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(StemdlError), run_dir_lock(run_dir, "stemdl train ornl", 0):
        raise StemdlError("bad data")
    assert not run_dir.exists()


@pytest.mark.parametrize("rank", [0, 1])
def test_a_file_is_not_a_run_folder(tmp_path, rank):
    path = tmp_path / "run"
    path.write_text("x")
    with pytest.raises(StemdlError, match="exists and is not a folder"), \
            run_dir_lock(path, "stemdl train stfc", rank):
        pass
