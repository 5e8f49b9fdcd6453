"""The output-folder lock: one writer at a time, holder named, dead holders taken over."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.lock import LOCK_PREFIX, FolderLock, FolderLocked, lock_name, locked_folder

HOLD = """
import sys, time
from stemdl.common.infra.lock import locked_folder
with locked_folder(sys.argv[1], "holder"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(FolderLocked) as info:
            FolderLock(tmp_path, "second").acquire()
        text = str(info.value)
        assert f"pid {proc.pid}" in text and "holder" in text and "\n" not in text
        assert info.value.exit_code == 2
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_process_is_taken_over(tmp_path, capsys):
    proc = _holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / LOCK_PREFIX).exists()  # left behind by kill -9
    with locked_folder(tmp_path, "next") as lock:
        assert lock.took_over is not None and lock.took_over.pid == proc.pid
        assert json.loads((tmp_path / LOCK_PREFIX).read_text())["command"] == "next"
    assert "took over" in capsys.readouterr().err
    assert not (tmp_path / LOCK_PREFIX).exists()


def test_release_is_idempotent_and_reacquire_works(tmp_path):
    lock = FolderLock(tmp_path, "a").acquire()
    lock.release()
    lock.release()
    with locked_folder(tmp_path, "b"):
        pass


def test_same_process_locking_twice_is_refused(tmp_path):
    with locked_folder(tmp_path, "a"), pytest.raises(FolderLocked):
        FolderLock(tmp_path, "a again").acquire()


def test_ranks_lock_separately(tmp_path):
    with locked_folder(tmp_path, "r0", rank=0, world=2), locked_folder(tmp_path, "r1", rank=1, world=2):
        with pytest.raises(FolderLocked):
            FolderLock(tmp_path, "r1 again", lock_name(1, 2)).acquire()


def test_requeued_slurm_job_takes_over_on_another_host(tmp_path, monkeypatch):
    record = {"host": "node-that-died", "pid": 1, "command": "stemdl train", "started": time.time(),
              "token": "x", "slurm_job": "42", "slurm_restart": 0, "extra": {}}
    (tmp_path / LOCK_PREFIX).write_text(json.dumps(record))
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with locked_folder(tmp_path, "requeued") as lock:
        assert lock.took_over.host == "node-that-died"


def test_live_holder_on_another_host_is_not_taken_over(tmp_path, monkeypatch):
    record = {"host": "other-node", "pid": 1, "command": "stemdl simulate", "started": time.time(),
              "token": "x", "slurm_job": None, "slurm_restart": 0, "extra": {}}
    (tmp_path / LOCK_PREFIX).write_text(json.dumps(record))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(FolderLocked, match="other-node pid 1"):
        FolderLock(tmp_path, "me").acquire()


def test_a_file_where_the_folder_should_be_is_a_usage_error(tmp_path):
    target = tmp_path / "out"
    target.write_text("x")
    with pytest.raises(StemdlError, match="not a folder"):
        FolderLock(target, "me").acquire()


def test_garbage_lock_file_counts_as_abandoned(tmp_path):
    (tmp_path / LOCK_PREFIX).write_bytes(b"\x00\x01not json")
    with locked_folder(tmp_path, "me") as lock:
        assert lock.holder is not None and lock.holder.pid == os.getpid()
