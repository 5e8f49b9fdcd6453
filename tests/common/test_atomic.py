"""Atomic writes: all or nothing, no temporary file left behind."""

import pytest

from stemdl.common.infra.atomic import write_atomic, write_text_atomic


def test_success_replaces_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "c.txt"
    write_text_atomic(path, "old")

    def half_then_crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(path, half_then_crash)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["c.txt"]


def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    import os

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(
        f"/proc/self/fd/{fd}"))), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))),
                                                     real_replace(a, b)))
    path = tmp_path / "d.txt"
    write_text_atomic(path, "data")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert ".tmp-" in events[0][1] and events[2][1] == str(tmp_path)


def test_background_commits_rename_after_the_data_is_written(tmp_path):
    from stemdl.common.infra.atomic import BackgroundCommits, write_temp

    commits = BackgroundCommits()
    paths = [tmp_path / f"{i}.bin" for i in range(3)]
    for i, path in enumerate(paths):
        tmp = write_temp(path, lambda t, i=i: t.write_bytes(bytes([i]) * 1000))
        commits.submit(tmp, path)
    assert commits.wait() == paths
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.bin", "1.bin", "2.bin"]
    assert paths[2].read_bytes() == b"\x02" * 1000


def test_background_commit_failure_is_raised_and_leaves_no_temporary(tmp_path, monkeypatch):
    import os

    from stemdl.common.infra.atomic import BackgroundCommits, write_temp

    real_replace = os.replace

    def full_disk(a, b):
        if str(b).endswith("bad.bin"):
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", full_disk)
    commits = BackgroundCommits()
    for name in ("good.bin", "bad.bin"):
        commits.submit(write_temp(tmp_path / name, lambda t, n=name: t.write_text(n)), tmp_path / name)
    with pytest.raises(OSError, match="No space"):
        commits.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.bin"]


def test_finish_after_an_error_keeps_the_whole_files_submitted(tmp_path):
    from stemdl.common.infra.atomic import BackgroundCommits, write_temp

    commits = BackgroundCommits()
    path = tmp_path / "done.bin"
    commits.submit(write_temp(path, lambda t: t.write_text("whole")), path)
    commits.finish()  # as after a signal in the caller
    assert [p.name for p in tmp_path.iterdir()] == ["done.bin"] and path.read_text() == "whole"
